import type { ServiceContext } from './service-context.js';

/** The Identity service: who the plugin is, what it offers, whether it is ready. */
export function identityService({ options, manager }: ServiceContext) {
  return {
    async GetPluginInfo() {
      return { name: options.name, vendor_version: options.vendorVersion, manifest: {} };
    },
    async GetPluginCapabilities() {
      // No CONTROLLER_SERVICE: this plugin serves nodes only (volumes are provisioned statically).
      const capabilities = options.topology === undefined ? [] : [{ service: { type: 'VOLUME_ACCESSIBILITY_CONSTRAINTS' } }];
      return { capabilities };
    },
    async Probe() {
      // Ready once the state root is usable (made, its key read); a root that cannot be is an error.
      await manager.root();
      return { ready: { value: true } };
    },
  };
}

/** The Controller service of a node-only plugin: the capability list, empty, as the spec asks. */
export function controllerService() {
  return {
    async ControllerGetCapabilities() {
      return { capabilities: [] };
    },
  };
}
