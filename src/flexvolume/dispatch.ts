import type { CallContext } from './call-context.js';
import type { ParsedCall } from './calls.js';
import { resolveCapabilities } from './capabilities.js';
import type { CallHandler } from './driver-options.js';
import { mountCall } from './mount-call.js';
import { notSupported, success, type Reply } from './reply.js';
import { unmountCall } from './unmount-call.js';

/**
 * Runs one parsed call: `init`, `mount` and `unmount` are the shim's own; every other call goes
 * to the driver's handler, or answers exactly `{"status":"Not supported"}` so that kubelet
 * falls back to its own behaviour and stops asking.
 */
export async function dispatch(parsed: ParsedCall, context: CallContext): Promise<Reply> {
  switch (parsed.call) {
    case 'init':
      return success({ capabilities: resolveCapabilities(context.driver.capabilities) });
    case 'mount':
      return mountCall(parsed.args, context);
    case 'unmount':
      return unmountCall(parsed.args, context);
    default: {
      const handler = context.driver.calls?.[parsed.call] as CallHandler<typeof parsed.call> | undefined;
      if (handler === undefined) return notSupported;
      return handler(parsed.args as never, context);
    }
  }
}
