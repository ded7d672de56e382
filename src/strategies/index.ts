import { bindStrategy } from './bind.js';
import { symlinkStrategy } from './symlink.js';
import type { PublishStrategy } from './strategy.js';
import type { Strategy } from '../publish-request.js';

/** The publication strategies by name. */
export const strategies: Record<Strategy, PublishStrategy> = { bind: bindStrategy, symlink: symlinkStrategy };
