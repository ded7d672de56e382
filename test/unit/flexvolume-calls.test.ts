import { describe, expect, it } from 'vitest';
import { callArguments, parseCall } from '../../src/flexvolume/calls.js';
import { resolveCapabilities } from '../../src/flexvolume/capabilities.js';
import { createFlexVolumeDriver } from '../../src/flexvolume/driver.js';

describe('parseCall', () => {
  it('knows every call-out kubelet and the controller manager make, with their arguments', () => {
    expect(Object.keys(callArguments).sort()).toEqual(
      ['attach', 'detach', 'expandfs', 'expandvolume', 'getvolumename', 'init', 'isattached', 'mount', 'mountdevice', 'unmount', 'unmountdevice', 'waitforattach'].sort(),
    );
    expect(parseCall(['mount', '/pods/x', '{}'], 'nfs')).toEqual({ ok: true, parsed: { call: 'mount', args: { podVolumeDir: '/pods/x', json: '{}' } } });
    expect(parseCall(['expandfs', '{}', '/dev/x', '/m', '2', '1'], 'nfs')).toEqual({
      ok: true,
      parsed: { call: 'expandfs', args: { json: '{}', devicePath: '/dev/x', deviceMountPath: '/m', newBytes: '2', oldBytes: '1' } },
    });
  });

  it('refuses an unknown call, no call and a wrong argument count with a usage message', () => {
    expect(parseCall([], 'nfs')).toMatchObject({ ok: false, message: expect.stringMatching(/^no call given; usage: nfs init \| nfs mount <podVolumeDir> <json> \|/) });
    expect(parseCall(['provision'], 'nfs')).toMatchObject({ ok: false, message: expect.stringMatching(/^unknown call "provision"; usage:/) });
    expect(parseCall(['toString'], 'nfs')).toMatchObject({ ok: false }); // not a call, though every object has it
    expect(parseCall(['unmount', '/a', '/b'], 'nfs')).toMatchObject({ ok: false, message: 'unmount takes 1 argument, got 2; usage: nfs unmount <podVolumeDir>' });
  });
});

describe('capabilities', () => {
  it('sends every field, with the shared-mount defaults under what the driver declares', () => {
    expect(resolveCapabilities()).toEqual({ attach: false, selinuxRelabel: false, supportsMetrics: false, fsGroup: false, requiresFSResize: false });
    expect(resolveCapabilities({ supportsMetrics: true })).toMatchObject({ attach: false, supportsMetrics: true });
  });
});

describe('createFlexVolumeDriver().handle', () => {
  const driver = createFlexVolumeDriver({ name: 'example.com/test', backends: [], executable: '/plugins/example.com~test/test', env: {}, capabilities: { supportsMetrics: true } });
  it('answers init without configuration or backends', async () => {
    expect(await driver.handle(['init'])).toEqual({
      status: 'Success',
      capabilities: { attach: false, selinuxRelabel: false, supportsMetrics: true, fsGroup: false, requiresFSResize: false },
    });
  });
  it('answers Not supported for a call without a handler, Failure for a bad one', async () => {
    expect(await driver.handle(['getvolumename', '{}'])).toEqual({ status: 'Not supported' });
    expect(await driver.handle(['attach', '{}'])).toMatchObject({ status: 'Failure', message: expect.stringMatching(/usage: test attach <json> <nodeName>/) });
  });
  it('passes a driver handler its named arguments', async () => {
    const withHandler = createFlexVolumeDriver({
      name: 'example.com/test',
      backends: [],
      env: {},
      calls: { isattached: ({ json, nodeName }) => ({ status: 'Success', attached: json === '{}' && nodeName === 'n1' }) },
    });
    expect(await withHandler.handle(['isattached', '{}', 'n1'])).toEqual({ status: 'Success', attached: true });
  });
});
