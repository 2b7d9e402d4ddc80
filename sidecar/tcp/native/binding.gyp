{
  "targets": [
    {
      "target_name": "realip_transparent",
      "sources": ["src/transparent.c", "src/splice.c"],
      "include_dirs": ["<(module_root_dir)/../../../node_modules/node-api-headers/include"],
      "cflags": ["-O2", "-Wall", "-Wextra", "-std=gnu11", "-pthread"], "ldflags": ["-pthread"],
      "defines": ["NAPI_VERSION=8"]
    }
  ]
}
