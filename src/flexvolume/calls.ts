/**
 * Every call-out kubelet and the controller manager make, with the arguments each one takes
 * (argv after the executable and the call name), as pkg/volume/flexvolume sends them.
 */
export const callArguments = {
  init: [],
  mount: ['podVolumeDir', 'json'],
  unmount: ['podVolumeDir'],
  getvolumename: ['json'],
  attach: ['json', 'nodeName'],
  waitforattach: ['devicePath', 'json'],
  isattached: ['json', 'nodeName'],
  detach: ['volumeName', 'nodeName'],
  mountdevice: ['deviceMountPath', 'devicePath', 'json'],
  unmountdevice: ['deviceMountPath'],
  expandvolume: ['json', 'deviceMountPath', 'newBytes', 'oldBytes'],
  expandfs: ['json', 'devicePath', 'deviceMountPath', 'newBytes', 'oldBytes'],
} as const satisfies Record<string, readonly string[]>;

export type CallName = keyof typeof callArguments;

/** The call's arguments by name, e.g. `{ podVolumeDir, json }` for `mount`. */
export type CallArguments<C extends CallName> = { [K in (typeof callArguments)[C][number]]: string };

export const callNames = Object.keys(callArguments) as CallName[];

export function isCallName(name: string): name is CallName {
  return Object.hasOwn(callArguments, name);
}

/** One line per call: `mount <podVolumeDir> <json>`. */
export function usage(executable: string): string {
  return `usage: ${callNames.map((call) => [executable, call, ...callArguments[call].map((a) => `<${a}>`)].join(' ')).join(' | ')}`;
}

export type ParsedCall = { [C in CallName]: { call: C; args: CallArguments<C> } }[CallName];

/**
 * Reads argv (after the executable) into a call and its named arguments, or explains what is
 * wrong: an unknown call or a wrong number of arguments.
 */
export function parseCall(argv: readonly string[], executable: string): { ok: true; parsed: ParsedCall } | { ok: false; message: string } {
  const [name, ...rest] = argv;
  if (name === undefined) return { ok: false, message: `no call given; ${usage(executable)}` };
  if (!isCallName(name)) return { ok: false, message: `unknown call "${printable(name)}"; ${usage(executable)}` };
  const expected = callArguments[name];
  if (rest.length !== expected.length) {
    const shape = [executable, name, ...expected.map((a) => `<${a}>`)].join(' ');
    return { ok: false, message: `${name} takes ${expected.length} argument${expected.length === 1 ? '' : 's'}, got ${rest.length}; usage: ${shape}` };
  }
  const args = Object.fromEntries(expected.map((argName, i) => [argName, rest[i]!]));
  return { ok: true, parsed: { call: name, args } as ParsedCall };
}

function printable(text: string): string {
  return JSON.stringify(text.length > 40 ? `${text.slice(0, 40)}...` : text).slice(1, -1);
}
