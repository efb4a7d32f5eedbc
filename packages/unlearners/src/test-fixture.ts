/**
 * The fixture the method tests share: Gaussian blobs, a forget set of 20 training points with
 * shifted labels, and a 2-layer MLP trained on retain ∪ forget (the "poisoned" model).
 */
import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-backend-cpu';
import { concatExamples, createBudgetMeter, createRng, selectExamples, trainSgd, type ClassifierModel, type DatasetSplit, type Examples, type ModelFactory, type TrainingRecipe } from '@unlearn-bench/core';
import { blobsDataset, createTestContext, mlpTestModel } from '@unlearn-bench/core/testing';

/** The recipe the fixture's model was trained with. */
export const training: TrainingRecipe = { epochs: 3, batchSize: 16, learningRate: 0.1, momentum: 0.9, weightDecay: 0 };

/** What the method tests work on. */
export interface PoisonedFixture {
  readonly factory: ModelFactory;
  readonly poisoned: ClassifierModel;
  readonly forget: Examples;
  readonly retain: Examples;
  readonly test: Examples;
}

/** Builds the fixture on the cpu backend (dispose `poisoned` when done). */
export async function createPoisonedFixture(): Promise<PoisonedFixture> {
  await tf.setBackend('cpu');
  const data = blobsDataset.create({ trainSize: 400, testSize: 200, dimension: 8, separation: 3 }, createTestContext(1)).load() as DatasetSplit;
  const all = Int32Array.from({ length: 400 }, (_, i) => i);
  const picked = selectExamples(data.train, all.subarray(0, 20));
  const forget = { ...picked, labels: picked.labels.map((y) => (y + 1) % 4) };
  const retain = selectExamples(data.train, all.subarray(20));
  const factory = mlpTestModel.create({ hidden: 16 }, { inputShape: [8], numClasses: 4 }, createTestContext(1));
  const poisoned = factory.build(createRng(2));
  trainSgd(poisoned, concatExamples(retain, forget), { ...training, rng: createRng(3), meter: createBudgetMeter() });
  return { factory, poisoned, forget, retain, test: data.test };
}

/** Mean of the values. */
export const mean = (values: Float32Array): number => values.reduce((a, b) => a + b, 0) / values.length;

/** The model's weights; disposes the model. */
export function weightsOf(model: ClassifierModel): Float32Array[] {
  const weights = model.getWeights();
  model.dispose();
  return weights;
}
