export { DEFAULT_PREFIX, Keys } from './keys.js';
export {
  assertReachable,
  connect,
  describeConnection,
  duplicateConnection,
  keysOf,
  lastConnectionError,
  LIBRARY_CONNECT_TIMEOUT_MS,
  LIBRARY_MAX_RETRIES_PER_REQUEST,
  redactUrl,
  redisOptionsFromUrl,
  useKeyPrefix,
  type ConnectionInput,
  type ConnectionSettings,
} from './connection.js';
export { multi, pipeline, queueScript, runScript, type ScriptArgs, type ScriptKeys, type ScriptName, type ScriptReply, type ScriptSpecs } from './scripts.js';
