import { isIPv4, isIPv6 } from 'node:net';
import { SessionOptionsError } from '../core/session.exceptions.js';
import type { SessionClientInfo } from '../core/session.interfaces.js';
import { errorMessage } from '../core/utils.js';
import type { ResolvedDetailsOptions } from './details.options.js';

/** A User-Agent is kept to this many characters: enough for any real browser, bounded for a forged one. */
export const MAX_USER_AGENT_LENGTH = 512;
/** A device label, the same: "Chrome on macOS" is 15; a forged agent can name anything. */
export const MAX_DEVICE_LENGTH = 100;

type Bowser = { parse(ua: string): { browser: { name?: string }; os: { name?: string } } };

const IPV4_MAPPED = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/i;

// The eight hextets of an IPv6 address ('::' expanded), or null when it is not one.
function hextets(ip: string): string[] | null {
  if (!isIPv6(ip)) return null;
  const [head, tail] = ip.split('::') as [string, string | undefined];
  const left = head === '' ? [] : head.split(':');
  const right = tail === undefined || tail === '' ? [] : tail.split(':');
  if (right.some((part) => part.includes('.')) || left.some((part) => part.includes('.'))) return null;
  return [...left, ...Array<string>(8 - left.length - right.length).fill('0'), ...right];
}

/** An IPv4 address as a dual-stack socket reports it (`::ffff:203.0.113.7`) written as IPv4. */
function unmapped(ip: string): string {
  return IPV4_MAPPED.exec(ip)?.[1] ?? ip;
}

/**
 * The network of an address, for `metadata.ip: 'truncated'`: IPv4 to its /24 (`203.0.113.0`),
 * IPv6 to its /48 (`2001:db8:85a3::`). Null for something that is not an address.
 */
export function truncateIp(ip: string): string | null {
  const mapped = unmapped(ip);
  if (isIPv4(mapped)) return mapped.replace(/\.\d+$/, '.0');
  const parts = hextets(ip);
  if (!parts) return null;
  const network = parts.slice(0, 3).map((part) => part.replace(/^0+(?=.)/, '').toLowerCase());
  // Trailing zero groups go into the '::', as an address is written short.
  while (network.length > 0 && network[network.length - 1] === '0') network.pop();
  return `${network.join(':')}::`;
}

/** What a login records of its client, by the `metadata` options. */
export class ClientMetadata {
  private bowser: Bowser | null = null;

  constructor(private readonly options: ResolvedDetailsOptions['metadata']) {}

  /** Loads `bowser` when `metadata.device` asks for it; a SessionOptionsError when it is missing. */
  async ready(): Promise<void> {
    if (!this.options?.device) return;
    try {
      const loaded = (await import('bowser')) as unknown as { default?: Bowser } & Bowser;
      this.bowser = loaded.default ?? loaded;
    } catch (error) {
      throw new SessionOptionsError('metadata.device', `needs the bowser package, which could not be loaded (${errorMessage(error)}): install it, npm install bowser.`);
    }
  }

  /** The user agent, device label and address of `client`, each null when its option is off or it has none. */
  record(client: SessionClientInfo | undefined): { userAgent: string | null; device: string | null; ip: string | null } {
    const options = this.options;
    const agent = typeof client?.userAgent === 'string' && client.userAgent !== '' ? client.userAgent : null;
    const address = typeof client?.ip === 'string' && client.ip !== '' ? client.ip : null;
    return {
      userAgent: options?.userAgent && agent ? agent.slice(0, MAX_USER_AGENT_LENGTH) : null,
      device: options?.device && agent ? this.deviceLabel(agent) : null,
      ip: !options?.ip || !address ? null : options.ip === 'full' ? unmapped(address) : truncateIp(address),
    };
  }

  /** "Chrome on macOS", "Safari on iOS"; the browser or the system alone when only one is known. */
  deviceLabel(userAgent: string): string | null {
    if (!this.bowser) return null;
    const { browser, os } = this.bowser.parse(userAgent.slice(0, MAX_USER_AGENT_LENGTH));
    // bowser gives '' for what it cannot name (curl, a bot): no label then.
    const label = browser.name && os.name ? `${browser.name} on ${os.name}` : browser.name || os.name || null;
    return label && label.slice(0, MAX_DEVICE_LENGTH);
  }
}
