// Networks: a service's attachments (with its names there) and the stack's networks, STACK_default for services that name none.
import type { NetworkAttachment } from '../../../shared/network.js';
import type { StackNetwork } from '../../../shared/stack.js';
import { keyValues, stringList, type MapContext } from './context.js';
import { isMapping, type Mapping, text } from './locator.js';

export function mapAttachments(
  ctx: MapContext,
  svc: Mapping,
  name: string,
  used: Set<string>,
): NetworkAttachment[] {
  const nets = svc.networks;
  const entries: [string, string[], object, string | number][] = [];
  if (nets === undefined || nets === null) entries.push(['default', [], svc, name]);
  else if (Array.isArray(nets)) nets.forEach((n, i) => entries.push([text(n), [], nets, i]));
  else if (isMapping(nets))
    for (const [n, v] of Object.entries(nets))
      entries.push([n, isMapping(v) ? stringList(v.aliases) : [], nets, n]);
  const declared = ctx.section('networks');
  const out: NetworkAttachment[] = [];
  for (const [net, aliases, parent, key] of entries) {
    if (net !== 'default' && !(net in declared)) {
      ctx.problem(
        parent,
        key,
        `service "${name}": the network "${net}" is not declared under the top-level networks:`,
      );
      continue;
    }
    used.add(net);
    out.push({ name: networkName(ctx, net), aliases: [...new Set([name, ...aliases])] });
  }
  return out;
}

function networkName(ctx: MapContext, key: string): string {
  const v = ctx.section('networks')[key];
  const decl = isMapping(v) ? v : {};
  if (typeof decl.name === 'string') return decl.name;
  if (isMapping(decl.external) && typeof decl.external.name === 'string') return decl.external.name;
  return decl.external === true ? key : ctx.scoped(key);
}

/** The networks services use, in the order declared (default last); drivers other than bridge and overlay refused. */
export function mapNetworks(ctx: MapContext, used: ReadonlySet<string>): StackNetwork[] {
  const declared = ctx.section('networks');
  const keys = Object.keys(declared).filter((k) => used.has(k));
  if (used.has('default') && !keys.includes('default')) keys.push('default');
  return keys.map((key) => {
    const v = declared[key];
    const decl = isMapping(v) ? v : {};
    const driver = decl.driver;
    if (driver !== undefined && driver !== null && driver !== 'bridge' && driver !== 'overlay')
      ctx.problem(
        decl,
        'driver',
        `network "${key}": driver "${text(driver)}" is not supported (bridge or overlay, both a fleet cluster network)`,
      );
    return {
      name: networkName(ctx, key),
      external: decl.external === true || isMapping(decl.external),
      internal: decl.internal === true,
      attachable: decl.attachable === true,
      labels: keyValues(decl.labels),
    };
  });
}
