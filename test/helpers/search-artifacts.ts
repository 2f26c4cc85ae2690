import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { OmlmdClient } from '../../src/core/client';
import { sha256 } from '../../src/core/oci/digest';
import type { Descriptor } from '../../src/core/oci/types';

export interface RawArtifact {
  config: { mediaType: string; bytes: Buffer };
  layers?: { mediaType: string; bytes: Buffer; annotations?: Record<string, string> }[];
  artifactType?: string;
  annotations?: Record<string, string>;
}

/** Pushes a manifest built by hand (ModelPack, KitOps, an image, a broken config) with the core's registry client. */
export async function pushRaw(client: OmlmdClient, target: string, a: RawArtifact): Promise<Descriptor> {
  const ref = OmlmdClient.parse(target);
  const repo = await client.repository(ref);
  const blob = async (bytes: Buffer, mediaType: string): Promise<Descriptor> => {
    const d = await repo.putBlob({ open: () => Readable.from([bytes]), size: bytes.length, digest: sha256(bytes), mediaType });
    return { mediaType, digest: d.digest, size: d.size };
  };
  const config = await blob(a.config.bytes, a.config.mediaType);
  const layers: Descriptor[] = [];
  for (const l of a.layers ?? []) layers.push({ ...(await blob(l.bytes, l.mediaType)), ...(l.annotations ? { annotations: l.annotations } : {}) });
  const manifest = {
    schemaVersion: 2,
    mediaType: 'application/vnd.oci.image.manifest.v1+json',
    ...(a.artifactType ? { artifactType: a.artifactType } : {}),
    config,
    layers,
    ...(a.annotations ? { annotations: a.annotations } : {}),
  };
  return repo.putManifest(Buffer.from(JSON.stringify(manifest)), manifest.mediaType, ref.tag);
}

export function modelPackConfig(name: string, extra: Record<string, unknown> = {}): Buffer {
  return Buffer.from(JSON.stringify({
    descriptor: { name, createdAt: '2025-06-01T00:00:00Z', vendor: 'example', family: 'llama', version: '1' },
    config: { architecture: 'transformer', format: 'safetensors', paramSize: '8b', precision: 'bf16' },
    modelfs: { type: 'layers', diffIds: [] },
    ...extra,
  }));
}

export function kitopsConfig(name: string, extra: Record<string, unknown> = {}): Buffer {
  return Buffer.from(JSON.stringify({ manifestVersion: '1.0.0', package: { name, version: '1.0.0', authors: ['Kit'] }, model: { name, path: 'model.gguf', framework: 'gguf' }, ...extra }));
}

/** A small model file in `dir`. */
export function modelFile(dir: string, name: string, content: string): string {
  mkdirSync(dir, { recursive: true });
  const p = join(dir, name);
  writeFileSync(p, content);
  return p;
}
