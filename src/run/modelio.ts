/**
 * A file-system IOHandler for TF.js Layers models (tfjs-node's `file://` is not available here).
 * Writes the standard format, `model.json` + a weights file, loadable unchanged by
 * `tf.loadLayersModel('.../model.json')` in a browser.
 *
 * Atomic: the weights go to a new uniquely named file first, then `model.json` (which names it)
 * is renamed into place, then older weight files are removed. A reader therefore always sees a
 * model.json whose weights file is complete.
 */
import { readFile, readdir, rm } from 'node:fs/promises';
import { join } from 'node:path';
import * as tf from '../tf.js';
import { CovidNetError } from '../errors.js';
import { fileTag, writeFileAtomic } from './atomic.js';

export const MODEL_JSON = 'model.json';

function weightBytes(data: tf.io.WeightData | undefined): Uint8Array {
  if (data === undefined) return new Uint8Array(0);
  return new Uint8Array(tf.io.concatenateArrayBuffers(data));
}

export interface FileSystemIOOptions {
  /** Name of the JSON file (default `model.json`). */
  jsonName?: string;
  /**
   * Remove weight files the new JSON no longer names (default true). Off where another pointer
   * file (last/checkpoint.json) commits the save and cleans up afterwards.
   */
  cleanup?: boolean;
}

/** IOHandler saving to / loading from folder `dir` (`model.json` + `weights.<tag>.bin`). */
export function fileSystemIO(dir: string, opts: FileSystemIOOptions = {}): tf.io.IOHandler {
  const jsonName = opts.jsonName ?? MODEL_JSON;
  return {
    async save(artifacts: tf.io.ModelArtifacts): Promise<tf.io.SaveResult> {
      const weightsName = `weights.${fileTag()}.bin`;
      const bytes = weightBytes(artifacts.weightData);
      await writeFileAtomic(join(dir, weightsName), bytes);
      const modelJson: tf.io.ModelJSON = {
        modelTopology: artifacts.modelTopology as object,
        format: artifacts.format ?? 'layers-model',
        generatedBy: artifacts.generatedBy ?? 'TensorFlow.js',
        convertedBy: 'covidnet',
        weightsManifest: [{ paths: [weightsName], weights: artifacts.weightSpecs ?? [] }],
      };
      if (artifacts.trainingConfig) modelJson.trainingConfig = artifacts.trainingConfig;
      if (artifacts.userDefinedMetadata) modelJson.userDefinedMetadata = artifacts.userDefinedMetadata;
      const json = JSON.stringify(modelJson);
      await writeFileAtomic(join(dir, jsonName), json);
      if (opts.cleanup ?? true) await removeStaleWeights(dir, jsonName);
      return {
        modelArtifactsInfo: {
          dateSaved: new Date(),
          modelTopologyType: 'JSON',
          modelTopologyBytes: JSON.stringify(artifacts.modelTopology).length,
          weightSpecsBytes: JSON.stringify(artifacts.weightSpecs ?? []).length,
          weightDataBytes: bytes.byteLength,
        },
      };
    },
    async load(): Promise<tf.io.ModelArtifacts> {
      const path = join(dir, jsonName);
      let modelJson: tf.io.ModelJSON;
      try {
        modelJson = JSON.parse(await readFile(path, 'utf8')) as tf.io.ModelJSON;
      } catch (e) {
        const missing = (e as NodeJS.ErrnoException).code === 'ENOENT';
        throw new CovidNetError('E_RUN', missing ? 'no saved model here' : `unreadable model file (${(e as Error).message})`, { file: path, cause: e });
      }
      return tf.io.getModelArtifactsForJSON(modelJson, async (manifest) => {
        const specs: tf.io.WeightsManifestEntry[] = [];
        const buffers: ArrayBuffer[] = [];
        for (const group of manifest) {
          specs.push(...group.weights);
          for (const p of group.paths) {
            const buf = await readFile(join(dir, p)).catch((e: unknown) => {
              throw new CovidNetError('E_RUN', `missing weights file ${p}`, { file: join(dir, p), cause: e });
            });
            buffers.push(buf.buffer.slice(buf.byteOffset, buf.byteOffset + buf.byteLength) as ArrayBuffer);
          }
        }
        return [specs, tf.io.concatenateArrayBuffers(buffers)];
      });
    },
  };
}

/** Delete weight files in `dir` that the current JSON file no longer names (leftovers of older saves). */
async function removeStaleWeights(dir: string, jsonName: string): Promise<void> {
  const json = JSON.parse(await readFile(join(dir, jsonName), 'utf8')) as tf.io.ModelJSON;
  const keep = new Set(json.weightsManifest.flatMap((g) => g.paths));
  for (const f of await readdir(dir)) {
    if (/^weights\.[0-9a-f]+\.bin$/.test(f) && !keep.has(f)) await rm(join(dir, f), { force: true });
  }
}

/** Save a Layers model to `dir` atomically. */
export async function saveModel(model: tf.LayersModel, dir: string): Promise<void> {
  await model.save(fileSystemIO(dir));
}
