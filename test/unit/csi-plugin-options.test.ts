import { describe, expect, it } from 'vitest';
import { bindBackend } from '../../src/backends/bind.js';
import { createCsiPlugin, defaultRoot, socketPathOf, type CsiPluginOptions } from '../../src/csi/index.js';
import { defaultRoot as flexVolumeDefaultRoot } from '../../src/flexvolume/config.js';

const good: CsiPluginOptions = { name: 'nfs.example.com', vendorVersion: '1.0.0', nodeId: 'node-1', endpoint: 'unix:///csi/csi.sock', backends: [bindBackend()], root: '/tmp/sharemount-unused' };

describe('createCsiPlugin options', () => {
  it.each([
    ['a name with an underscore', { name: 'nfs_example' }, 'options.name: must be a domain-like name'],
    ['a name longer than 63 characters', { name: `a${'b'.repeat(63)}` }, 'options.name: must be at most 63 characters'],
    ['a name ending in a dot', { name: 'nfs.example.' }, 'options.name'],
    ['no vendor version', { vendorVersion: '' }, 'options.vendorVersion: is required'],
    ['a node id over 128 bytes', { nodeId: 'é'.repeat(65) }, 'options.nodeId: must be at most 128 bytes'],
    ['a relative endpoint', { endpoint: 'csi.sock' }, 'options.endpoint: must be unix:///path/to/socket or an absolute path'],
    ['a tcp endpoint', { endpoint: 'tcp://0.0.0.0:10000' }, 'options.endpoint'],
    ['no backend', { backends: [] }, 'options.backends: must name at least one backend'],
    ['a relative root', { root: 'var/lib' }, 'options.root: must be an absolute path'],
    ['a negative queue bound', { maxQueuedPerVolume: -1 }, 'options.maxQueuedPerVolume'],
    ['a periodic check every 10 ms', { healIntervalMs: 10 }, 'options.healIntervalMs: must be at least 100 ms'],
    ['a periodic check beyond the longest timer', { healIntervalMs: 2 ** 31 }, 'options.healIntervalMs: must be at most'],
  ])('refuses %s, naming the field', (_, change, message) => {
    expect(() => createCsiPlugin({ ...good, ...change } as CsiPluginOptions)).toThrow(message);
  });

  it('accepts good options without touching the node', () => {
    const plugin = createCsiPlugin(good);
    expect(plugin.socketPath).toBe('/csi/csi.sock');
    expect(socketPathOf('/run/csi.sock')).toBe('/run/csi.sock');
  });
});

describe('default state roots', () => {
  it('are each driver\'s own: a CSI plugin and a FlexVolume driver never share one by default', () => {
    expect(defaultRoot('nfs.example.com')).toBe('/var/lib/sharemount/csi/nfs.example.com');
    expect(defaultRoot('lvm.example.com')).not.toBe(defaultRoot('nfs.example.com'));
    expect(flexVolumeDefaultRoot('example.com/nfs')).toBe('/var/lib/sharemount/flexvolume/example.com~nfs');
    const roots = [defaultRoot('nfs.example.com'), flexVolumeDefaultRoot('example.com/nfs'), flexVolumeDefaultRoot('example.com/lvm')];
    // None inside another: disjoint trees, not only different strings.
    for (const a of roots) for (const b of roots) if (a !== b) expect(b.startsWith(`${a}/`)).toBe(false);
  });
});
