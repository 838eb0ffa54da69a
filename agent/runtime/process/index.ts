// The process runtime driver's entry.
export { ProcessRuntime, type ProcessRuntimeOptions } from './runtime.js';
