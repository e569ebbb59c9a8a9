/** Training accuracy counted from the outputs the training steps already compute (no extra pass). */
import { argmax } from '../model/index.js';

/** Argmax accuracy counted over an epoch's training batches. */
export class ClassTally {
  private ok = 0;
  private n = 0;
  /** `probs` is [B, classes] row-major; `truth` the B class indices. */
  add(probs: ArrayLike<number>, truth: readonly number[]): void {
    const k = truth.length ? probs.length / truth.length : 0;
    const row = Array.from(probs);
    truth.forEach((t, i) => {
      if (argmax(row.slice(i * k, (i + 1) * k)) === t) this.ok++;
    });
    this.n += truth.length;
  }
  value(): number {
    return this.n ? this.ok / this.n : NaN;
  }
}

/**
 * Pair accuracy: a pair is called different when P(different) > 0.5 (the head's output, which the
 * one-shot validation ranks). Same and different pairs weigh equally (the mean of the two rates),
 * so an all-"different" answer scores 0.5 also on the contrastive recipe's batches, where about
 * two pairs in three are different; on balanced pairs (study recipe, validation pairs) this is
 * the plain accuracy.
 */
export class PairTally {
  private okSame = 0;
  private nSame = 0;
  private okDiff = 0;
  private nDiff = 0;
  add(pDifferent: ArrayLike<number>, different: readonly number[]): void {
    different.forEach((d, i) => {
      const said = pDifferent[i]! > 0.5;
      if (d) {
        this.nDiff++;
        if (said) this.okDiff++;
      } else {
        this.nSame++;
        if (!said) this.okSame++;
      }
    });
  }
  value(): number {
    const rates = [this.nSame ? this.okSame / this.nSame : undefined, this.nDiff ? this.okDiff / this.nDiff : undefined].filter((r): r is number => r !== undefined);
    return rates.length ? rates.reduce((a, b) => a + b, 0) / rates.length : NaN;
  }
}
