// The release channel: the platform stores bundles on the controller (PUT, bearer platform token) and
// rolls them out per channel, to everyone or first to a canary (a percentage of agents, chosen by a hash
// of the agent id, and/or agents whose registered labels match a selector); agents ask which release is
// theirs and download it (agent API, bearer their own credential).
import { z } from 'zod';
import { labelsSchema } from '../config/fields.js';
import { idPath } from './paths.js';

export const releasePaths = {
  /** GET (platform): every stored release and every channel. */
  releases: '/v1/releases',
  /** PUT (platform): the body is the bundle (application/gzip); the query says where it goes (releasePutQuerySchema). */
  release: idPath('/v1/releases/:id'),
  /** POST (platform): change a stored release's rollout on a channel (widen the canary, promote, roll back). */
  rollout: idPath('/v1/releases/:id/rollout'),
  /** GET (agent): the release this agent should run on `?channel=`. */
  latest: '/v1/agent/releases/latest',
  /** GET (agent): the bundle's bytes. */
  bundle: idPath('/v1/agent/releases/:id/bundle'),
} as const;

/** `<package version>-<commit 12>`, as in the bundle's file name. */
export const releaseVersionSchema = z.string().regex(/^[0-9A-Za-z][0-9A-Za-z.+_-]{0,100}$/, 'expected a release id like 0.2.0-0123456789ab');
export const channelSchema = z.string().regex(/^[a-z0-9][a-z0-9_-]{0,31}$/, 'expected a channel name of 1-32 of [a-z0-9_-]');

/** A selector in a query string: `k=v,k=v`. */
const selectorText = z
  .string()
  .max(1000)
  .transform((s, ctx) => {
    const out: Record<string, string> = {};
    for (const pair of s.split(',').filter((p) => p !== '')) {
      const eq = pair.indexOf('=');
      if (eq <= 0) {
        ctx.addIssue({ code: 'custom', message: `"${pair}" is not key=value` });
        return z.NEVER;
      }
      out[pair.slice(0, eq)] = pair.slice(eq + 1);
    }
    return out;
  })
  .pipe(labelsSchema);

/** How a release is rolled out on its channel; with neither field it goes to every agent on the channel at once. */
export const rolloutSchema = z.strictObject({
  channel: channelSchema.default('stable'),
  /** Agents whose id hashes below this percentage take it; the others stay on the channel's previous release. 100: everyone. */
  canaryPercent: z.coerce.number().int().min(0).max(100).default(100),
  /** Agents whose registered labels include all of these take it too (whatever canaryPercent says). */
  canaryLabels: labelsSchema.default({}),
  /**
   * At most this many agents of the channel moving to it at a time, from the offer until the agent runs
   * it; the others are told to wait (`held`) and ask again at their next update tick. 0: no bound.
   */
  maxInFlight: z.coerce.number().int().min(0).max(100_000).default(0),
});
export type Rollout = z.infer<typeof rolloutSchema>;

export const releasePutQuerySchema = rolloutSchema.extend({ canaryLabels: selectorText.default({}) });

export const releaseInfoSchema = z.strictObject({
  version: releaseVersionSchema,
  commit: z.string(),
  arch: z.string(),
  sha256: z.string().regex(/^[0-9a-f]{64}$/),
  size: z.number().int().min(0),
  signed: z.boolean(),
  uploadedAt: z.string(),
});
export type ReleaseInfo = z.infer<typeof releaseInfoSchema>;

export const channelViewSchema = z.strictObject({
  channel: channelSchema,
  latest: releaseVersionSchema,
  previous: releaseVersionSchema.nullable(),
  canaryPercent: z.number().int().min(0).max(100),
  canaryLabels: labelsSchema,
  maxInFlight: z.number().int().min(0),
});
export type ChannelView = z.infer<typeof channelViewSchema>;

/** PUT and rollout answer the release and its channel as they now are. */
export const releasePutReplySchema = z.strictObject({ release: releaseInfoSchema, channel: channelViewSchema });

export const latestQuerySchema = z.strictObject({ channel: channelSchema.default('stable') });

/**
 * GET /v1/agent/releases/latest: `release` null when the channel has nothing for this agent (empty, or a
 * canary it is not in with no previous release). `canary`: this agent is in the canary of `latest`.
 * `held`: the release is this agent's, but the rollout has maxInFlight agents moving already; ask again later.
 */
export const latestReplySchema = z.strictObject({
  channel: channelSchema,
  canary: z.boolean(),
  release: releaseInfoSchema.extend({ path: z.string() }).nullable(),
  held: z.boolean().optional(),
});
export type LatestReply = z.infer<typeof latestReplySchema>;
