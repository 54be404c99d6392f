export { DEFAULT_PREFIX, Keys } from './keys.js';
export {
  assertReachable,
  connect,
  describeConnection,
  duplicateConnection,
  keysOf,
  redactUrl,
  redisOptionsFromUrl,
  useKeyPrefix,
  type ConnectionInput,
  type ConnectionSettings,
} from './connection.js';
export { multi, pipeline, queueScript, runScript, type ScriptArgs, type ScriptKeys, type ScriptName, type ScriptReply, type ScriptSpecs } from './scripts.js';
