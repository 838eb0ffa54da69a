// Gets a task's image onto the board by its pull plan, and says which content (digest) it will run.
import type { ClusterImageProvider } from '../../images/agent-images.js';
import type { AssignedImage } from '../../../shared/images/cluster-image.js';
import { errorMessage } from '../../../shared/errors.js';
import { dockerEngineImages } from './cluster-engine.js';
import type Docker from 'dockerode';
import type { Clock } from '../../../shared/clock.js';
import { digestFromRepoDigests, pinnedReference } from '../../../shared/image-ref.js';
import type { Logger } from '../../../shared/log.js';
import type { AssignedTask } from '../../../shared/protocol.js';
import {
  ImageUnavailableError,
  isImageUnavailable,
  type PreparedImage,
  type RegistryAuth,
} from '../types.js';
import { dockerMessage, isConnectionError, statusOf, translate, unreachable } from './errors.js';
import { pullImage } from './pull.js';
import { CLUSTER_NOTE, fallbackFailed, fallbackNote, imageSourceOf } from './image-source.js';
import { planPull } from './pull-decision.js';

export interface ImageDeps {
  docker: Docker;
  socketPath: string;
  clock: Clock;
  log: Logger;
  pullTimeoutMs: number;
}

export class DockerImages {
  /** The spec version each service's image was last pulled for, on this board, since start. */
  private readonly pulledFor = new Map<string, number>();
  private cluster: ClusterImageProvider | null = null;

  constructor(private readonly deps: ImageDeps) {}

  useCluster(provider: ClusterImageProvider): void {
    this.cluster = provider;
  }

  async prepare(task: AssignedTask, auth?: RegistryAuth): Promise<PreparedImage> {
    const source = imageSourceOf(task, this.cluster !== null);
    switch (source.from) {
      case 'cluster':
        try {
          const got = await this.fromCluster(source.image);
          return source.fallback ? { ...got, note: CLUSTER_NOTE } : got;
        } catch (e) {
          // An engine that does not answer would not pull either.
          if (!source.fallback || !isImageUnavailable(e)) throw e;
          return this.fromRegistryInstead(task, e.reason, auth);
        }
      case 'fallback':
        return this.fromRegistryInstead(task, source.why, auth);
      case 'none':
        throw new ImageUnavailableError(task.template.image, source.why);
      case 'registry':
        return this.fromRegistry(task, auth);
    }
  }

  /** Pulled or local by the pull plan: an image the fleet does not store. */
  private async fromRegistry(task: AssignedTask, auth?: RegistryAuth): Promise<PreparedImage> {
    const image = task.template.image;
    const pinned = task.pinnedDigest ?? null;
    const local = await this.repoDigests(image);
    const plan = planPull({
      image,
      pinned,
      local: local === null ? null : { digest: digestFromRepoDigests(image, local) },
      pinnedLocal:
        pinned !== null && (await this.repoDigests(pinnedReference(image, pinned))) !== null,
      // Without a version (an older manager) a local image is used, as before.
      pulledForVersion:
        task.specVersion === undefined || this.pulledFor.get(task.serviceId) === task.specVersion,
    });
    if (plan.pull === null) return this.prepared(image, plan.run, pinned, null);
    let reason: string;
    try {
      await pullImage(this.deps.docker, plan.pull, this.deps.pullTimeoutMs, this.deps.clock, auth);
      if (task.specVersion !== undefined) this.pulledFor.set(task.serviceId, task.specVersion);
      if ((await this.repoDigests(plan.run)) !== null)
        return this.prepared(image, plan.run, pinned, null);
      reason = 'the pull finished but the image is still missing';
    } catch (e) {
      if (isConnectionError(e)) throw unreachable(this.deps.socketPath, 'pull', e);
      reason = `pull failed: ${dockerMessage(e)}`;
    }
    if (plan.localFallback) {
      // An offline board keeps running what it has, and says so.
      this.deps.log.warn('could not pull; running the local image', { image, reason });
      return this.prepared(image, image, null, `${reason}; running the local image`);
    }
    throw new ImageUnavailableError(image, `not found locally and ${reason}`);
  }

  /**
   * The registry standing in for the fleet's copy: the reference the spec names is always
   * pulled (a local image under that name may be an older copy the fleet loaded), and the
   * status says so.
   */
  private async fromRegistryInstead(
    task: AssignedTask,
    why: string,
    auth?: RegistryAuth,
  ): Promise<PreparedImage> {
    const image = task.template.image;
    this.deps.log.warn("the fleet's copy of an image cannot be used; pulling from its registry", {
      image,
      why,
    });
    let reason: string;
    try {
      await pullImage(this.deps.docker, image, this.deps.pullTimeoutMs, this.deps.clock, auth);
      if ((await this.repoDigests(image)) !== null)
        return this.prepared(image, image, null, fallbackNote(why));
      reason = 'the pull finished but the image is still missing';
    } catch (e) {
      if (isConnectionError(e)) throw unreachable(this.deps.socketPath, 'pull', e);
      reason = `pull failed: ${dockerMessage(e)}`;
    }
    throw new ImageUnavailableError(image, fallbackFailed(why, reason));
  }

  /** Gets a cluster image in the background; a failure is in the image's report, and logged. */
  prefetch(image: AssignedImage): void {
    if (!this.cluster || this.cluster.isLoaded(image)) return;
    this.cluster
      .ensure(image, dockerEngineImages(this.deps.docker, this.deps.clock))
      .catch((e: unknown) => {
        this.deps.log.warn('could not prefetch an image', {
          image: image.name,
          error: errorMessage(e),
        });
      });
  }

  /** An image the cluster stores: fetched and loaded by the agent, run by its name. */
  private async fromCluster(image: AssignedImage): Promise<PreparedImage> {
    try {
      await this.cluster?.ensure(image, dockerEngineImages(this.deps.docker, this.deps.clock));
    } catch (e) {
      if (isConnectionError(e)) throw unreachable(this.deps.socketPath, 'load', e);
      throw new ImageUnavailableError(image.name, errorMessage(e));
    }
    return { ref: image.name, digest: image.digest, note: null };
  }

  /** The digest the run reference resolves to on this engine. */
  private async prepared(
    image: string,
    run: string,
    pinned: string | null,
    note: string | null,
  ): Promise<PreparedImage> {
    const digests = await this.repoDigests(run);
    const digest = pinned ?? digestFromRepoDigests(image, digests ?? []);
    return { ref: run, digest, note };
  }

  /** The local image's RepoDigests, or null when the engine has no such image. */
  private async repoDigests(ref: string): Promise<string[] | null> {
    try {
      const info = await this.deps.docker.getImage(ref).inspect();
      return info.RepoDigests ?? [];
    } catch (e) {
      if (statusOf(e) === 404) return null;
      throw translate(this.deps.socketPath, 'inspect image', e);
    }
  }
}
