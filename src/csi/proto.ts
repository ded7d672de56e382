import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { loadPackageDefinition, type GrpcObject, type ServiceClientConstructor } from '@grpc/grpc-js';
import { load } from '@grpc/proto-loader';

/** The services of csi.v1 that the shim serves, as grpc-js service constructors. */
export interface CsiServices {
  Identity: ServiceClientConstructor;
  Controller: ServiceClientConstructor;
  Node: ServiceClientConstructor;
}

/**
 * How messages look in JavaScript: snake_case field names as in the spec (so error messages
 * name the fields a CO's author knows), enums as their names, int64 as numbers (byte counts
 * stay far below 2^53), absent scalars as their defaults and the set member of a oneof named.
 */
const loaderOptions = { keepCase: true, enums: String, longs: Number, defaults: true, oneofs: true } as const;

/** The proto the package ships (proto/csi.proto), found from this module's place in src/ or dist/. */
export function csiProtoPath(): string {
  const here = dirname(fileURLToPath(import.meta.url)); // tsup shims it in the CommonJS output
  for (let dir = here, depth = 0; depth < 4; dir = dirname(dir), depth++) {
    const candidate = join(dir, 'proto', 'csi.proto');
    if (existsSync(candidate)) return candidate;
  }
  throw new Error(`sharemount/csi: proto/csi.proto not found above ${here} (is the package installed whole?)`);
}

/** Parses the shipped proto into csi.v1's service definitions. */
export async function loadCsiServices(): Promise<CsiServices> {
  const v1 = (loadPackageDefinition(await load(csiProtoPath(), loaderOptions)).csi as GrpcObject).v1 as GrpcObject;
  return { Identity: v1.Identity as ServiceClientConstructor, Controller: v1.Controller as ServiceClientConstructor, Node: v1.Node as ServiceClientConstructor };
}
