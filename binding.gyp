# offheap — one addon target: the allocators (csrc/*.c), the arena core
# (csrc/addon/core/*.c, no Node header) and the Node-API glue (csrc/addon/*.cc). Symbols are hidden so the core's
# names (custom_mmap, mspace_malloc, buddy_*...) never clash with another
# addon loaded in the same process; only the Node-API entry point is exported.
{
  "targets": [
    {
      "target_name": "offheap",
      "sources": [
        "csrc/dlmalloc.c",
        "csrc/buddy.c",
        "csrc/pages.c",
        "csrc/addon/core/arena.c",
        "csrc/addon/core/lock.c",
        "csrc/addon/core/port.c",
        "csrc/addon/core/spares.c",
        "csrc/addon/addon.cc",
        "csrc/addon/arena.cc",
        "csrc/addon/reap.cc",
        "csrc/addon/shared.cc",
        "csrc/addon/views.cc"
      ],
      "include_dirs": ["<!(node -p \"require('node-addon-api').include_dir\")"],
      "defines": [
        "PORTABLE",
        "USE_LOCKS=2",
        "USE_DL_PREFIX",
        "MSPACES",
        "ONLY_MSPACES",
        "NO_MALLOC_STATS=1",
        "NAPI_VERSION=8",
        "NAPI_DISABLE_CPP_EXCEPTIONS",
        "NODE_ADDON_API_DISABLE_DEPRECATED"
      ],
      "cflags": ["-fvisibility=hidden", "-O2"],
      "cflags_c": ["-std=gnu11"],
      "cflags_cc": ["-fvisibility=hidden", "-fvisibility-inlines-hidden", "-std=gnu++17", "-O2"],
      "xcode_settings": {
        "GCC_SYMBOLS_PRIVATE_EXTERN": "YES",
        "CLANG_CXX_LANGUAGE_STANDARD": "c++17",
        "MACOSX_DEPLOYMENT_TARGET": "10.15"
      }
    }
  ]
}
