// The Node bundle of @tensorflow/tfjs-core registers no gradient functions; the umbrella package
// @tensorflow/tfjs does (and shares the same tfjs-core instance). Import this before taking gradients.
import '@tensorflow/tfjs';
