export { CLUSTER_PREFIX, DEFAULT_PREFIX, Keys } from './keys.js';
export { keySlot } from './slot.js';
export {
  assertReachable,
  connect,
  describeConnection,
  isCluster,
  duplicateConnection,
  keysOf,
  lastConnectionError,
  LIBRARY_CONNECT_TIMEOUT_MS,
  LIBRARY_MAX_RETRIES_PER_REQUEST,
  redactUrl,
  redisOptionsFromUrl,
  useKeyPrefix,
  type ClusterNode,
  type ConnectionInput,
  type ConnectionSettings,
} from './connection.js';
export { multi, pipeline, queueScript, runScript, type ScriptArgs, type ScriptKeys, type ScriptName, type ScriptReply, type ScriptSpecs } from './scripts.js';
