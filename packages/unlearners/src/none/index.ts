/** `core/none`: no unlearning; the result is the poisoned model itself (a reference point). */
import { defineUnlearner } from '@unlearn-bench/core';

/** `core/none`: returns a copy of the poisoned model. */
export const noneUnlearner = defineUnlearner<Record<string, never>>({
  id: 'none',
  description: 'No unlearning: the poisoned model as trained (reference row "none").',
  reference: 'poisoned',
  optionsSchema: { type: 'object', additionalProperties: false, properties: {} },
  create() {
    return { unlearn: ({ model }) => model.clone() };
  },
});
