// The API's image methods: record a pushed image once its blobs are here, list, inspect, remove.
import type { ImageDetail, ImageView, TaskView } from '../../shared/api.js';
import type { ServiceRecord } from '../../shared/spec.js';
import type { ImagePresenceView } from '../images/presence.js';
import { FleetError, invalidArgument } from '../../shared/errors.js';
import { randomId } from '../../shared/identity.js';
import {
  clusterImageName,
  findClusterImage,
  imageBlobs,
  type ImageRecord,
} from '../../shared/images/cluster-image.js';
import type { StoreView } from '../store/store.js';
import type { Handler, HandlerContext } from './context.js';
import { findByRef, sortByName } from './file-handlers.js';

type ImageMethods = 'image.create' | 'image.ls' | 'image.inspect' | 'image.rm';

export const imageHandlers: { [M in ImageMethods]: Handler<M> } = {
  'image.create': (p, ctx) => {
    const name = clusterImageName(p.name);
    if (name === null) throw invalidArgument(`image name ${p.name} must have a tag, not a digest`);
    const draft = { index: p.index, platforms: p.platforms };
    const blobs = imageBlobs(draft);
    const missing = [...blobs.keys()].filter((d) => ctx.blobs && !ctx.blobs.has(d));
    if (!ctx.blobs || missing.length > 0) {
      throw new FleetError(
        'unavailable',
        `manager ${ctx.managerId} does not hold ${ctx.blobs ? missing.length : blobs.size} of the image's ${blobs.size} blobs (the leader changed during the push?): push again`,
      );
    }
    const old = [...ctx.store.images()].find((i) => i.name === name);
    const image: ImageRecord = {
      id: old?.id ?? randomId(),
      name,
      digest: p.digest,
      ...(p.index ? { index: p.index } : {}),
      platforms: p.platforms,
      size: [...blobs.values()].reduce((a, b) => a + b, 0),
      pushedTo: ctx.managerId,
      createdAt: old?.digest === p.digest ? old.createdAt : ctx.now,
    };
    return { result: imageView(ctx, image), commands: [{ type: 'image.put', image }] };
  },
  'image.ls': (_p, ctx) => ({
    result: sortByName([...ctx.store.images()]).map((i) => imageView(ctx, i)),
  }),
  'image.inspect': (p, ctx) => ({ result: imageDetail(ctx, findImage(ctx.store, p.image)) }),
  'image.rm': (p, ctx) => {
    const image = findImage(ctx.store, p.image);
    const users = usersOf(ctx.store, image);
    if (users.length > 0 && !p.force) {
      throw new FleetError(
        'conflict',
        `image ${image.name} is in use by service${users.length > 1 ? 's' : ''} ${users.join(', ')}: remove or update ${users.length > 1 ? 'them' : 'it'} first, or use --force`,
      );
    }
    return {
      result: { id: image.id, name: image.name },
      commands: [{ type: 'image.remove', id: image.id }],
    };
  },
};

/** By record id, name (as a service would write it), content digest, or unique prefix of either id. */
function findImage(store: StoreView, ref: string): ImageRecord {
  const images = [...store.images()];
  const named = findClusterImage(images, ref) ?? images.find((i) => i.digest === ref);
  return named ?? findByRef(images, ref.replace(/^sha256:/, ''), 'image');
}

function usersOf(store: StoreView, image: ImageRecord): string[] {
  const users: string[] = [];
  for (const s of store.services()) {
    if (findClusterImage([image], s.spec.task.image)) users.push(s.spec.name);
  }
  return users.sort();
}

function imageView(ctx: HandlerContext, i: ImageRecord): ImageView {
  const nodes = (ctx.imagePresence?.nodesWith(i.digest) ?? []).map((r) => ({
    node: ctx.store.node(r.nodeId)?.name ?? r.nodeId,
    bytes: r.bytes,
    total: r.total,
    state: r.state,
    fromManager: r.fromManager,
    fromPeers: r.fromPeers,
    ...(r.message ? { message: r.message } : {}),
  }));
  return {
    id: i.id,
    name: i.name,
    digest: i.digest,
    size: i.size,
    platforms: i.platforms.map((p) =>
      [p.os, p.architecture, ...(p.variant ? [p.variant] : [])].join('/'),
    ),
    nodes,
    createdAt: new Date(i.createdAt).toISOString(),
  };
}

function imageDetail(ctx: HandlerContext, i: ImageRecord): ImageDetail {
  const blobs = [...imageBlobs(i).keys()];
  return {
    ...imageView(ctx, i),
    ...(i.index ? { index: i.index } : {}),
    platformImages: i.platforms,
    pushedTo: i.pushedTo,
    usedBy: usersOf(ctx.store, i),
    manager: {
      id: ctx.managerId,
      missingBlobs: ctx.blobs ? blobs.filter((d) => !ctx.blobs?.has(d)).length : blobs.length,
    },
  };
}

/** Marks each live task of an older image with its node's download of the service's image. */
export function withDownloads(
  store: StoreView,
  presence: ImagePresenceView,
  service: ServiceRecord,
  tasks: TaskView[],
): TaskView[] {
  const image = service.spec.task.image;
  const rec = findClusterImage(store.images(), image);
  if (!rec) return tasks;
  const byNode = new Map(presence.nodesWith(rec.digest).map((r) => [r.nodeId, r]));
  return tasks.map((t) => {
    const r = t.node ? byNode.get(t.node) : undefined;
    if (!r || t.image === image || t.desiredState !== 'running') return t;
    return { ...t, download: { image: rec.name, bytes: r.bytes, total: r.total, state: r.state } };
  });
}
