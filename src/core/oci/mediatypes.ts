/** Media types and annotation keys used across the core. */
export const MediaType = {
  ociManifest: 'application/vnd.oci.image.manifest.v1+json',
  ociIndex: 'application/vnd.oci.image.index.v1+json',
  dockerManifest: 'application/vnd.docker.distribution.manifest.v2+json',
  dockerManifestList: 'application/vnd.docker.distribution.manifest.list.v2+json',
  ociEmpty: 'application/vnd.oci.empty.v1+json',
  ociImageConfig: 'application/vnd.oci.image.config.v1+json',
  ociLayerTar: 'application/vnd.oci.image.layer.v1.tar',
  ociLayerTarGzip: 'application/vnd.oci.image.layer.v1.tar+gzip',
} as const;

export const MANIFEST_MEDIA_TYPES = [MediaType.ociManifest, MediaType.dockerManifest] as const;
export const INDEX_MEDIA_TYPES = [MediaType.ociIndex, MediaType.dockerManifestList] as const;
/** What we send in Accept when fetching a manifest by tag or digest. */
export const MANIFEST_ACCEPT = [...MANIFEST_MEDIA_TYPES, ...INDEX_MEDIA_TYPES].join(', ');

export const Annotation = {
  title: 'org.opencontainers.image.title',
  created: 'org.opencontainers.image.created',
  authors: 'org.opencontainers.image.authors',
  description: 'org.opencontainers.image.description',
  licenses: 'org.opencontainers.image.licenses',
  source: 'org.opencontainers.image.source',
  refName: 'org.opencontainers.image.ref.name',
} as const;

export const EMPTY_JSON_DIGEST = 'sha256:44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8a';
