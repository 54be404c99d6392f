export { BaseDeathPenalty, type DeathPenaltyClass, type DeathPenaltyOptions, type TimeoutExceptionClass } from './BaseDeathPenalty.js';
export { InProcessDeathPenalty } from './InProcessDeathPenalty.js';
export { JobTimeoutException } from './JobTimeoutException.js';
export { TimerDeathPenalty } from './TimerDeathPenalty.js';
