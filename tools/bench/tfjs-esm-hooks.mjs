// Node module-resolution hook for tsx runs: tfjs-core's ESM files (dist/register_all_gradients.js
// and what it imports) use extensionless and directory imports, which Node's ESM resolver rejects.
// Retry such specifiers with '.js' or '/index.js'. Registered by tools/bench/register-hooks.ts.
export async function resolve(specifier, context, next) {
  try {
    return await next(specifier, context);
  } catch (err) {
    const parent = context.parentURL ?? '';
    const relative = specifier.startsWith('./') || specifier.startsWith('../');
    if (!relative || !parent.includes('/@tensorflow/')) throw err;
    for (const suffix of ['.js', '/index.js']) {
      try {
        return await next(specifier + suffix, context);
      } catch {
        // try the next suffix
      }
    }
    throw err;
  }
}
