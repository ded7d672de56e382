import { invalidArgument } from '../../errors.js';

/** What a sub-directory name template may refer to (CSI's `--extra-create-metadata` keys). */
export interface ClaimMetadata {
  /** The volume's name (CSI CreateVolume `name`, the PV's name under external-provisioner). */
  pvName: string;
  pvcName?: string;
  pvcNamespace?: string;
}

/** The default when the claim is known, as nfs-subdir-external-provisioner names directories. */
export const defaultSubDirTemplate = '${pvc.namespace}-${pvc.name}-${pv.name}';
/** The default when it is not (a provisioner started without `--extra-create-metadata`). */
export const fallbackSubDirTemplate = '${pv.name}';

// 255 is the limit of one name; room is left for the `archived-` prefix and a timestamp suffix.
const maxNameBytes = 200;
const safeName = /^[A-Za-z0-9_][A-Za-z0-9._-]*$/;
/** Prefixes the provisioner itself writes next to volumes; a volume must never be named so. */
export const reservedPrefixes = ['archived-'] as const;

const variables: Record<string, (m: ClaimMetadata) => string | undefined> = {
  'pv.name': (m) => m.pvName,
  'pvc.name': (m) => m.pvcName,
  'pvc.namespace': (m) => m.pvcNamespace,
};

/**
 * Renders `${pv.name}`, `${pvc.name}` and `${pvc.namespace}` into one directory name and checks
 * that the result is a single safe path component: it is joined to the export's root and later
 * deleted, so it must never be able to name anything but a direct child of that root.
 * @param field the template's field, for errors.
 */
export function renderSubDirName(template: string | undefined, metadata: ClaimMetadata, field: string): string {
  const chosen = template ?? (metadata.pvcName !== undefined && metadata.pvcNamespace !== undefined ? defaultSubDirTemplate : fallbackSubDirTemplate);
  const rendered = chosen.replace(/\$\{([^}]*)\}/g, (_, name: string) => {
    const lookup = variables[name];
    if (lookup === undefined) throw invalidArgument(field, `unknown variable \${${name}}; known: ${Object.keys(variables).map((v) => `\${${v}}`).join(', ')}`);
    const value = lookup(metadata);
    if (value === undefined) {
      throw invalidArgument(field, `uses \${${name}} but the request carries no claim metadata (run the CSI external-provisioner with --extra-create-metadata)`);
    }
    return value;
  });
  checkSubDirName(rendered, field);
  return rendered;
}

/** Throws unless `name` is one safe directory name that the provisioner may create and delete. */
export function checkSubDirName(name: string, field: string): void {
  if (name === '') throw invalidArgument(field, 'gives an empty directory name');
  if (Buffer.byteLength(name) > maxNameBytes) throw invalidArgument(field, `gives a directory name longer than ${maxNameBytes} bytes`);
  if (!safeName.test(name)) {
    throw invalidArgument(field, 'gives a name that is not one safe path component (letters, digits, ".", "_", "-"; not starting with "." or "-"; no "/")');
  }
  for (const prefix of reservedPrefixes) {
    if (name.startsWith(prefix)) throw invalidArgument(field, `gives a name starting with "${prefix}", which archived volumes use`);
  }
}
