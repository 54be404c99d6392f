export { BaseRegistry, jobIdOfMember, type RegistryOptions } from './BaseRegistry.js';
export { CanceledJobRegistry } from './CanceledJobRegistry.js';
export { DeferredJobRegistry } from './DeferredJobRegistry.js';
export { FailedJobRegistry } from './FailedJobRegistry.js';
export { FinishedJobRegistry } from './FinishedJobRegistry.js';
export { ScheduledJobRegistry } from './ScheduledJobRegistry.js';
export { StartedJobRegistry, type AbandonOutcome } from './StartedJobRegistry.js';
export { cleanWorkerRegistry } from './workerRegistry.js';
export { REGISTRY_NAMES, countAll, pageOfJobIds, parseRegistryName, registryByName, type RegistryCounts, type RegistryName } from './byName.js';
