// One did-you-mean for the whole product: rl-grpo's (task options use it too).
export { didYouMean, levenshtein } from '@emrl/rl-grpo';
