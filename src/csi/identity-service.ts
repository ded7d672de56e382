import { expandsVolumes, provisioningBackends } from './backend-abilities.js';
import type { ServiceContext } from './service-context.js';

/** The Identity service: who the plugin is, what it offers, whether it is ready. */
export function identityService({ options, manager, topology }: ServiceContext) {
  const services = [
    // A Controller service worth the name creates volumes; without a provisioning backend the
    // plugin serves nodes only (volumes are provisioned statically).
    ...(provisioningBackends(options.backends).length > 0 ? ['CONTROLLER_SERVICE'] : []),
    ...(topology === undefined ? [] : ['VOLUME_ACCESSIBILITY_CONSTRAINTS']),
  ];
  return {
    async GetPluginInfo() {
      return { name: options.name, vendor_version: options.vendorVersion, manifest: {} };
    },
    async GetPluginCapabilities() {
      const expansion = expandsVolumes(options.backends) ? [{ volume_expansion: { type: 'ONLINE' } }] : [];
      return { capabilities: [...services.map((type) => ({ service: { type } })), ...expansion] };
    },
    async Probe() {
      // Ready once the state root is usable (made, its key read); a root that cannot be is an error.
      await manager.root();
      return { ready: { value: true } };
    },
  };
}
