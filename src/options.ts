import { invalidArgument } from './errors.js';
import { contradictoryPair } from './option-conflicts.js';

/**
 * Mount options as one canonical set: sorted, without duplicates, each one checked so that it
 * can only ever be one `-o` item (no comma, no leading `-`, no whitespace or quotes) and cannot
 * switch mount(8) into another operation (`bind`, `remount`, `X-mount.*`...).
 * Equal sets give equal arrays whatever order or duplication they came in.
 */
export type OptionList = readonly string[];

const namePattern = /^[A-Za-z0-9_][A-Za-z0-9_.+-]*$/;
const valuePattern = /^[A-Za-z0-9_.+\-:/@=%~]*$/;
const maxOptionBytes = 1024;

// Options that mount(8) itself interprets as a different operation or as a request to create,
// own or loop-mount things, and the propagation flags: a share or publication made `shared`
// would join one peer group with its siblings, so a mount made inside one pod's volume would
// appear in every other pod's. A volume parameter must never be able to ask for any of them.
const reservedNames = new Set([
  'bind', 'rbind', 'move', 'rmove', 'remount', 'loop', 'offset', 'sizelimit', 'encryption',
  'helper', 'user', 'users', 'owner', 'group', 'make-shared', 'make-private', 'make-slave',
  'make-unbindable', 'make-rshared', 'make-rprivate', 'make-rslave', 'make-runbindable',
  'shared', 'rshared', 'private', 'rprivate', 'slave', 'rslave', 'unbindable', 'runbindable',
]);

/**
 * Parses a comma list or an array into the canonical set.
 * @param field the input field, for errors (`options`, `parameters.mountOptions`).
 * @param sensitive when true, errors never quote the option (it is a secret).
 */
export function canonicalOptions(input: string | readonly string[] | undefined, field: string, sensitive = false): OptionList {
  if (input === undefined) return [];
  const items = typeof input === 'string' ? input.split(',') : input;
  const seen = new Map<string, string>();
  const indexOf = new Map<string, number>();
  items.forEach((raw, index) => {
    if (typeof raw !== 'string') throw invalidArgument(`${field}[${index}]`, 'must be a string');
    const option = raw.trim();
    if (option === '') {
      if (typeof input === 'string') return; // `a,,b` and a trailing comma carry nothing
      throw invalidArgument(`${field}[${index}]`, 'is empty');
    }
    checkOption(option, `${field}[${index}]`, sensitive);
    const name = optionName(option);
    const previous = seen.get(name);
    if (previous !== undefined && previous !== option) {
      // Names only, as in checkOption: a value may be a secret in the wrong place.
      throw invalidArgument(`${field}[${index}]`, `sets option "${printable(name)}" twice with different values`);
    }
    seen.set(name, option);
    if (!indexOf.has(name)) indexOf.set(name, index);
  });
  const pair = contradictoryPair(new Set(seen.keys()));
  if (pair) {
    // A sensitive list's names are not quoted (a bare secret can look like a flag); its indexes say which.
    const [a, b] = pair;
    throw invalidArgument(field, sensitive
      ? `has two options that contradict each other: ${field}[${indexOf.get(a)}] and ${field}[${indexOf.get(b)}]`
      : `has both "${printable(a)}" and "${printable(b)}"`);
  }
  return [...seen.values()].sort(compareCodeUnits);
}

/** The option's name: the part before the first `=`. */
export function optionName(option: string): string {
  const eq = option.indexOf('=');
  return eq === -1 ? option : option.slice(0, eq);
}

/** Whether a canonical set asks for a read-only mount. */
export function isReadOnly(options: OptionList): boolean {
  return options.includes('ro');
}

/** Union of canonical sets, still canonical. */
export function mergeOptions(...sets: OptionList[]): OptionList {
  return canonicalOptions(sets.flat(), 'options');
}

function checkOption(option: string, field: string, sensitive: boolean): void {
  // Only the name is ever quoted: a value may be a secret that came in the wrong place (an item
  // "vers=4.1,password=..." holds a second option in what reads as the first one's value).
  const name = optionName(option);
  const shown = sensitive ? 'a sensitive option' : `"${printable(name)}${name.length < option.length ? '=…' : ''}"`;
  if (Buffer.byteLength(option) > maxOptionBytes) throw invalidArgument(field, `${sensitive ? 'a sensitive option' : 'option'} is longer than ${maxOptionBytes} bytes`);
  if (option.startsWith('-')) throw invalidArgument(field, `${shown} starts with "-"`);
  const value = option.slice(name.length + 1);
  if (!namePattern.test(name)) throw invalidArgument(field, `${shown} has a name outside [A-Za-z0-9_.+-]`);
  if (name.length < option.length && !valuePattern.test(value)) {
    throw invalidArgument(field, `${shown} has a value with a character outside [A-Za-z0-9_.+-:/@=%~] (commas, spaces, quotes and control characters cannot be passed safely)`);
  }
  const lower = name.toLowerCase();
  if (reservedNames.has(lower) || lower.startsWith('x-')) throw invalidArgument(field, `${shown} is reserved: it would change what mount(8) does`);
}

function printable(text: string): string {
  return JSON.stringify(text.length > 64 ? `${text.slice(0, 64)}...` : text).slice(1, -1);
}

function compareCodeUnits(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}
