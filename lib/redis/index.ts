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
export { multi, pipeline, queueScript, runScript, runScriptBuffer, type ScriptName } from './scripts.js';
