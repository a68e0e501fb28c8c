import { refusal as fails } from '../../test/support/options.js';
import { resolveSessionOptions } from '../options/resolve-options.js';
import { ClientMetadata, MAX_DEVICE_LENGTH, MAX_USER_AGENT_LENGTH, truncateIp } from './client-metadata.js';

const resolveUser = async (id: string) => ({ id });
const CHROME_MAC = 'Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36';
const SAFARI_IPHONE = 'Mozilla/5.0 (iPhone; CPU iPhone OS 17_5 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.5 Mobile/15E148 Safari/604.1';

describe('the details slice', () => {
  it('keeps nothing by default', () => {
    const options = resolveSessionOptions({ resolveUser });
    expect(options).toMatchObject({ metadata: null, reauthentication: false, dataMaxBytes: null, details: false });
  });

  it('turns each field on by itself, and keeps details when any is on', () => {
    expect(resolveSessionOptions({ resolveUser, metadata: { ip: 'truncated' } })).toMatchObject({
      metadata: { userAgent: false, device: false, ip: 'truncated', lastSeen: null },
      details: true,
    });
    expect(resolveSessionOptions({ resolveUser, metadata: { lastSeen: true } }).metadata?.lastSeen).toBe('slide');
    expect(resolveSessionOptions({ resolveUser, metadata: { lastSeen: '1m' } }).metadata?.lastSeen).toBe(60_000);
    expect(resolveSessionOptions({ resolveUser, reauthentication: true })).toMatchObject({ reauthentication: true, details: true });
    expect(resolveSessionOptions({ resolveUser, data: true })).toMatchObject({ dataMaxBytes: 4096, details: true });
    expect(resolveSessionOptions({ resolveUser, data: { maxBytes: 1000 } }).dataMaxBytes).toBe(1000);
  });

  it('reads metadata with every field off as no metadata', () => {
    expect(resolveSessionOptions({ resolveUser, metadata: { userAgent: false, ip: false } })).toMatchObject({ metadata: null, details: false });
  });

  it('refuses a bad field, naming it', () => {
    expect(fails({ resolveUser, metadata: { ip: 'partial' } }).option).toBe('metadata.ip');
    expect(fails({ resolveUser, metadata: { userAgent: 'yes' } }).option).toBe('metadata.userAgent');
    expect(fails({ resolveUser, metadata: { lastSeen: 'often' } }).option).toBe('metadata.lastSeen');
    expect(fails({ resolveUser, metadata: { agent: true } }).option).toBe('metadata.agent');
    expect(fails({ resolveUser, data: { maxBytes: 0 } }).option).toBe('data.maxBytes');
    expect(fails({ resolveUser, data: 'lots' }).option).toBe('data');
    expect(fails({ resolveUser, reauthentication: 1 }).option).toBe('reauthentication');
  });
});

describe('truncateIp', () => {
  it('keeps the /24 of an IPv4 address, also when IPv4-mapped', () => {
    expect(truncateIp('203.0.113.42')).toBe('203.0.113.0');
    expect(truncateIp('::ffff:198.51.100.7')).toBe('198.51.100.0');
  });

  it('keeps the /48 of an IPv6 address, written short', () => {
    expect(truncateIp('2001:0db8:85a3:0000:0000:8a2e:0370:7334')).toBe('2001:db8:85a3::');
    expect(truncateIp('2001:db8::1')).toBe('2001:db8::');
    expect(truncateIp('2001:db8:0:1::1')).toBe('2001:db8::');
    expect(truncateIp('fe80:1:2:3::')).toBe('fe80:1:2::');
    expect(truncateIp('::1')).toBe('::');
  });

  it('gives null for what is not an address', () => {
    expect(truncateIp('localhost')).toBeNull();
    expect(truncateIp('1.2.3')).toBeNull();
  });
});

describe('ClientMetadata', () => {
  it('records only the fields that are on', async () => {
    const metadata = new ClientMetadata({ userAgent: true, device: false, ip: null, lastSeen: null });
    await metadata.ready();
    expect(metadata.record({ userAgent: CHROME_MAC, ip: '203.0.113.42' })).toEqual({ userAgent: CHROME_MAC, device: null, ip: null });
  });

  it('labels the device "<browser> on <system>", and truncates or keeps the address', async () => {
    const truncated = new ClientMetadata({ userAgent: false, device: true, ip: 'truncated', lastSeen: null });
    await truncated.ready();
    expect(truncated.record({ userAgent: CHROME_MAC, ip: '203.0.113.42' })).toEqual({ userAgent: null, device: 'Chrome on macOS', ip: '203.0.113.0' });
    expect(truncated.record({ userAgent: SAFARI_IPHONE }).device).toBe('Safari on iOS');
    const full = new ClientMetadata({ userAgent: false, device: false, ip: 'full', lastSeen: null });
    expect(full.record({ ip: '2001:db8::1' }).ip).toBe('2001:db8::1');
    // As a dual-stack listener reports an IPv4 client.
    expect(full.record({ ip: '::ffff:203.0.113.42' }).ip).toBe('203.0.113.42');
  });

  it('gives no label for an agent bowser cannot name, and bounds a forged one', async () => {
    const metadata = new ClientMetadata({ userAgent: false, device: true, ip: null, lastSeen: null });
    await metadata.ready();
    expect(metadata.record({ userAgent: 'curl/8.5.0' }).device).toBeNull();
    const forged = metadata.record({ userAgent: `Mozilla/5.0 (Windows NT 10.0) Chrome/1 ${'Z'.repeat(400)}` }).device;
    expect(forged === null || forged.length <= MAX_DEVICE_LENGTH).toBe(true);
  });

  it('bounds the user agent a forged client sends', () => {
    const metadata = new ClientMetadata({ userAgent: true, device: false, ip: null, lastSeen: null });
    expect(metadata.record({ userAgent: 'x'.repeat(10_000) }).userAgent).toHaveLength(MAX_USER_AGENT_LENGTH);
  });

  it('records nulls for a client that sent nothing', async () => {
    const metadata = new ClientMetadata({ userAgent: true, device: true, ip: 'full', lastSeen: null });
    await metadata.ready();
    expect(metadata.record({ userAgent: '' })).toEqual({ userAgent: null, device: null, ip: null });
    expect(metadata.record(undefined)).toEqual({ userAgent: null, device: null, ip: null });
  });
});
