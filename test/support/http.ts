import type { INestApplication } from '@nestjs/common';

/** Starts `app` on a free loopback port and returns its base URL (supertest then talks real HTTP). */
export async function listen(app: INestApplication): Promise<string> {
  await app.listen(0, '127.0.0.1');
  return (await app.getUrl()).replace('[::1]', '127.0.0.1');
}

/** A Set-Cookie header of `name`, parsed: value and attributes (lower-cased keys). */
export function setCookie(headers: Record<string, unknown>, name = 'session'): { value: string; attributes: Record<string, string | true> } | undefined {
  const raw = headers['set-cookie'];
  const all = (Array.isArray(raw) ? raw : raw === undefined ? [] : [raw]) as string[];
  const line = all.find((c) => c.startsWith(`${name}=`));
  if (!line) return undefined;
  const [pair, ...attrs] = line.split(';').map((s) => s.trim());
  const attributes: Record<string, string | true> = {};
  for (const attr of attrs) {
    const eq = attr.indexOf('=');
    if (eq < 0) attributes[attr.toLowerCase()] = true;
    else attributes[attr.slice(0, eq).toLowerCase()] = attr.slice(eq + 1);
  }
  return { value: pair.slice(name.length + 1), attributes };
}
