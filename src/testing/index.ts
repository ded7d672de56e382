export { testBackend, type BackendConformanceOptions } from './conformance.js';
export { createSandbox, canMount, type Sandbox } from './sandbox.js';
export { mountsUnder } from './mounts.js';
