// The Docker runtime driver's entry: the runtime and the pieces its tests reach for.
export { DockerRuntime, type DockerRuntimeOptions } from './runtime.js';
export { containerName } from './create-options.js';
export { summaryKey } from './observe.js';
export { signalDropped, signalNumber } from './stop-signal.js';
export { JsonLines } from './streams.js';
