// The entry point of libkiln_example_plugins.so: what `kiln --plugins=...` and
// kiln::PluginRegistry::loadLibrary() call. Only the shared library compiles this file; the
// static library used by tests calls registerExamplePlugins() directly.
#include "example_plugins.h"

KILN_PLUGIN_EXPORT(registry) {
  // Errors (a conflicting creator) are reported by loadLibrary, which registers all or none.
  (void)kiln_examples::registerExamplePlugins(registry);
}
