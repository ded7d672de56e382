import * as z from '../zod.js';

// zod compiles a fast parser for each object schema with `new Function` on its first parse.
// That pays off in a long-running process; a FlexVolume call is a process that parses each
// schema once, so the compilation is pure start-up cost. Imported first by run-call.ts so that
// every schema, ours and the core's, is built after the switch.
z.config({ jitless: true });
