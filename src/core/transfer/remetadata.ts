import { Readable } from 'node:stream';
import { OmlmdError } from '../errors';
import { assertModel, buildModelManifest, layerTitle, viewArtifact } from '../model/artifact';
import { METADATA_FIELDS, metadataToJson, metadataToYaml, validateMetadata, type ModelMetadata } from '../model/metadata';
import { sha256 } from '../oci/digest';
import { Annotation } from '../oci/mediatypes';
import type { CallOptions, Repository } from '../oci/store';
import type { Annotations, Descriptor } from '../oci/types';
import { defaultCreated } from './push';
import { fetchImageManifest } from './resolve';

/**
 * A new version of an artifact with edited metadata: the model layers are reused as they
 * are (no bytes move), the config and metadata layers are new, and the result goes to a
 * new tag. An existing tag is refused unless `overwrite`: tags are never rewritten silently.
 */
export async function pushMetadataUpdate(repo: Repository, reference: string, metadata: ModelMetadata, newTag: string, opts: CallOptions & { overwrite?: boolean } = {}): Promise<Descriptor> {
  const md = validateMetadata(metadata, 'metadata');
  const { fetched } = await fetchImageManifest(repo, reference, opts);
  const old = fetched.manifest;
  assertModel(old, `${repo.description}:${reference}`);
  if (!opts.overwrite && (await repo.listTags(opts)).includes(newTag)) {
    throw new OmlmdError('CONFLICT', `tag ${newTag} already exists in ${repo.description}`, { remedies: [{ kind: 'say', text: 'choose a new tag: edited metadata is pushed as a new version' }] });
  }
  const files = viewArtifact(old).files
    .filter((f) => f.role !== 'metadata')
    .map((f) => ({ title: layerTitle(f.descriptor) ?? f.path, digest: f.descriptor.digest, size: f.descriptor.size, mediaType: f.descriptor.mediaType }));
  const put = async (bytes: Buffer) => {
    const digest = sha256(bytes);
    await repo.putBlob({ open: () => Readable.from([bytes]), size: bytes.length, digest }, opts);
    return { digest, size: bytes.length };
  };
  const config = await put(metadataToJson(md));
  const yaml = await put(metadataToYaml(md));
  // Keep annotations that are not derived from the metadata (provenance, user annotations).
  const derived = new Set<string>([...METADATA_FIELDS, ...METADATA_FIELDS.map((k) => `${k}+json`), Annotation.created, Annotation.authors, Annotation.description, Annotation.licenses, Annotation.title]);
  const kept: Annotations = Object.fromEntries(Object.entries(old.annotations ?? {}).filter(([k]) => !derived.has(k)));
  const { manifest, bytes } = buildModelManifest({
    metadata: md, config, yaml, files, created: defaultCreated(), annotations: kept, subject: old.subject,
    artifactType: old.artifactType ?? false,
  });
  return repo.putManifest(bytes, manifest.mediaType!, newTag, opts);
}
