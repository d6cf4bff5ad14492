export { parseHfConfig, SUPPORTED_MODEL_TYPES } from './parse';
export { toHfConfig, TRANSFORMERS_CONFIG_VERSION } from './to-hf';
