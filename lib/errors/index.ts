export { RqError } from './RqError.js';
export { NoSuchJobError } from './NoSuchJobError.js';
export { InvalidJobIdError } from './InvalidJobIdError.js';
export { DeserializationError } from './DeserializationError.js';
export { SerializationError } from './SerializationError.js';
export { InvalidRedisUrlError } from './InvalidRedisUrlError.js';
export { RedisConnectionError } from './RedisConnectionError.js';
export { InvalidOperationError } from './InvalidOperationError.js';
