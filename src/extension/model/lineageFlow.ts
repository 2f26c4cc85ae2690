import type { OmlmdClient } from '../../core/client';
import { OmlmdError } from '../../core/errors';
import { attach, modelCar } from '../../core/lineage/api';
import { ATTACHMENT_ARTIFACT_TYPE } from '../../core/lineage/attach';
import { MODEL_CARD_ARTIFACT_TYPE } from '../../core/lineage/modelcard';
import { formatReference, isValidTag, parseReference } from '../../core/oci/reference';
import type { ProgressCallback } from '../../core/transfer/progress';
import { l10n } from './l10n';

/**
 * "Attach File…" and "Build ModelCar Image…" on an artifact node, without VS Code: the
 * extension supplies the pickers and the progress display, tests supply scripted answers.
 */

export interface ArtifactTypeChoice {
  label: string;
  description: string;
  /** undefined: ask for one. */
  artifactType?: string;
}

export const ATTACH_TYPE_CHOICES: ArtifactTypeChoice[] = [
  { label: l10n.t('Attachment'), description: ATTACHMENT_ARTIFACT_TYPE, artifactType: ATTACHMENT_ARTIFACT_TYPE },
  { label: l10n.t('Model card'), description: MODEL_CARD_ARTIFACT_TYPE, artifactType: MODEL_CARD_ARTIFACT_TYPE },
  { label: l10n.t('SBOM (SPDX)'), description: 'application/spdx+json', artifactType: 'application/spdx+json' },
  { label: l10n.t('SBOM (CycloneDX)'), description: 'application/vnd.cyclonedx+json', artifactType: 'application/vnd.cyclonedx+json' },
  { label: l10n.t('Evaluation report'), description: 'application/vnd.omlmd.evaluation.v1', artifactType: 'application/vnd.omlmd.evaluation.v1' },
  { label: l10n.t('Other…'), description: l10n.t('type a media type') },
];

export interface LineageUi {
  /** Files to attach; undefined when the user cancels. */
  pickFiles(subject: string): Promise<string[] | undefined>;
  /** One of the choices; undefined when the user cancels. */
  pickArtifactType(choices: ArtifactTypeChoice[]): Promise<ArtifactTypeChoice | undefined>;
  /** A media type typed in, for "Other…". */
  askArtifactType(): Promise<string | undefined>;
  /** Where the image goes (a reference, proposed: the model's repository, tag `<tag>-modelcar`). */
  pickImageTarget(proposed: string, model: string): Promise<string | undefined>;
  /** The base image: a reference, null for the busybox-static minimal base, undefined to cancel. */
  pickBase(): Promise<string | null | undefined>;
  withProgress<T>(title: string, run: (onProgress: ProgressCallback, signal: AbortSignal) => Promise<T>): Promise<T>;
}

export interface LineageOutcome {
  reference: string;
  digest: string;
  source: 'api' | 'tag-schema';
}

/** The image reference proposed for a model: same repository (so discover on the model lists it), tag `<tag>-modelcar`. */
export function proposedModelCarTarget(model: string): string {
  const ref = parseReference(model);
  const base = ref.tag ?? (ref.digest ? `sha256-${ref.digest.slice(7, 19)}` : 'latest');
  const tag = `${base}-modelcar`.slice(0, 128);
  return formatReference({ ...ref, tag: isValidTag(tag) ? tag : 'modelcar', digest: undefined });
}

export async function runAttach(client: OmlmdClient, subject: string, ui: LineageUi): Promise<LineageOutcome | undefined> {
  const files = await ui.pickFiles(subject);
  if (!files?.length) return undefined;
  const choice = await ui.pickArtifactType(ATTACH_TYPE_CHOICES);
  if (!choice) return undefined;
  const artifactType = choice.artifactType ?? (await ui.askArtifactType());
  if (!artifactType) return undefined;
  const title = files.length === 1 ? l10n.t('Attaching {0} file to {1}', 1, subject) : l10n.t('Attaching {0} files to {1}', files.length, subject);
  const res = await ui.withProgress(title, (onProgress, signal) => attach(client, subject, files, { artifactType, onProgress, signal }));
  return { reference: res.reference, digest: res.descriptor.digest, source: res.source };
}

export async function runBuildModelCar(client: OmlmdClient, model: string, ui: LineageUi): Promise<(LineageOutcome & { sameRepository: boolean }) | undefined> {
  const image = await ui.pickImageTarget(proposedModelCarTarget(model), model);
  if (!image) return undefined;
  const ref = parseReference(image);
  if (ref.digest) throw new OmlmdError('USAGE', l10n.t('Name a tag for the image, not a digest.'));
  const base = await ui.pickBase();
  if (base === undefined) return undefined;
  const res = await ui.withProgress(l10n.t('Building the ModelCar image of {0}', model), (onProgress, signal) => modelCar(client, model, image, { base: base ?? undefined, onProgress, signal }));
  return { reference: res.reference, digest: res.descriptor.digest, source: res.source, sameRepository: res.sameRepository };
}
