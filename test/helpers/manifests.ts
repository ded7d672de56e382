import { readFileSync, readdirSync } from 'node:fs';
import { join, relative } from 'node:path';
import { Ajv } from 'ajv';
import { parseAllDocuments } from 'yaml';

/*
 * Kubernetes manifests checked against the API's schemas: built-in kinds with kubernetes-models
 * (the OpenAPI schemas of Kubernetes, compiled), CRD kinds (VolumeSnapshotClass) with the CRD's
 * schema (test/fixtures/crds) through ajv. YAML is parsed with `yaml`, every document of a file.
 */

/** Schemas of custom resources, by `apiVersion kind`. */
const crdSchemas: Record<string, string> = {
  'snapshot.storage.k8s.io/v1 VolumeSnapshotClass': 'volumesnapshotclass-v1.json',
};

const ajv = new Ajv({ allErrors: true, strict: true });
const crdValidators = new Map<string, ReturnType<Ajv['compile']>>();

/** The kubernetes-models module of an apiVersion (`v1`, `apps/v1`, `storage.k8s.io/v1`). */
function modelModule(apiVersion: string): string {
  if (!/^([a-z0-9.-]+\/)?v[0-9a-z]+$/.test(apiVersion)) throw new Error(`not an apiVersion: ${apiVersion}`);
  return `kubernetes-models/${apiVersion}`;
}

export interface ManifestProblem {
  file: string;
  document: number;
  problem: string;
}

/** Every problem of the manifests in `text` (a YAML stream); none when all documents are valid. */
export async function checkManifestText(text: string, file: string): Promise<ManifestProblem[]> {
  const problems: ManifestProblem[] = [];
  const documents = parseAllDocuments(text);
  if (!Array.isArray(documents)) return [{ file, document: 0, problem: 'not a YAML stream' }];
  for (const [index, document] of documents.entries()) {
    const report = (problem: string) => problems.push({ file, document: index, problem });
    if (document.errors.length > 0) {
      report(`YAML: ${document.errors.map((e) => e.message).join('; ')}`);
      continue;
    }
    const value: unknown = document.toJS();
    if (value === null || value === undefined) continue; // an empty document (a trailing ---)
    if (typeof value !== 'object' || Array.isArray(value)) {
      report('is not a Kubernetes object (a mapping with apiVersion and kind)');
      continue;
    }
    const { apiVersion, kind } = value as { apiVersion?: unknown; kind?: unknown };
    if (typeof apiVersion !== 'string' || typeof kind !== 'string') {
      report('has no apiVersion and kind');
      continue;
    }
    const crd = crdSchemas[`${apiVersion} ${kind}`];
    if (crd !== undefined) {
      let validate = crdValidators.get(crd);
      if (validate === undefined) {
        validate = ajv.compile(JSON.parse(readFileSync(join(import.meta.dirname, '..', 'fixtures', 'crds', crd), 'utf8')) as object);
        crdValidators.set(crd, validate);
      }
      if (!validate(value)) report(`${kind}: ${ajv.errorsText(validate.errors)}`);
      continue;
    }
    let Model: (new (data: object) => { validate(): void }) | undefined;
    try {
      Model = ((await import(modelModule(apiVersion))) as Record<string, typeof Model>)[kind];
    } catch {
      Model = undefined;
    }
    if (Model === undefined) {
      report(`no schema for ${apiVersion} ${kind}`);
      continue;
    }
    try {
      new Model(value).validate();
    } catch (error) {
      report(`${kind}: ${error instanceof Error ? error.message : String(error)}`);
    }
  }
  return problems;
}

/** The YAML files under `dir`, recursively, as paths relative to `base`. */
export function yamlFilesUnder(dir: string, base: string): string[] {
  const files: string[] = [];
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    const path = join(dir, entry.name);
    if (entry.isDirectory() && entry.name !== 'node_modules') files.push(...yamlFilesUnder(path, base));
    else if (entry.isFile() && /\.ya?ml$/.test(entry.name)) files.push(relative(base, path));
  }
  return files.sort();
}
