export * from './lora-config';
export * from './lora-adapter';
export * from './peft-config';
export * from './lora-io';
export * from './lora-dropout';
