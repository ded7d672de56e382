import { invalidArgument } from '../../errors.js';
import { optionName, type OptionList } from '../../options.js';

// Options refused on top of the core's rules, with the reason given to the user.
// `bg` makes mount.nfs exit 0 while it keeps retrying in the background: the share's mount
// point would stay an empty local directory and every publication would write to the node's
// disk instead of the server. `fg` (the default) is harmless and passes.
const refused = new Map<string, string>([
  ['bg', 'makes mount.nfs report success before anything is mounted, so consumers would write to the local disk; use the default "fg"'],
]);

/**
 * NFS-specific option rules, after the core's (which already keep each option one safe `-o`
 * item and refuse the options that change what mount(8) does). Everything else passes through
 * to mount.nfs, which knows its own options better than a copy of its list would.
 */
export function checkNfsOptions(options: OptionList, field: string): void {
  options.forEach((option, index) => {
    const why = refused.get(optionName(option).toLowerCase());
    if (why !== undefined) throw invalidArgument(`${field}[${index}]`, `"${optionName(option)}" is not allowed: it ${why}`);
  });
}
