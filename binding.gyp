{
  "targets": [
    {
      "target_name": "vmsg_mmap",
      "sources": ["src/native/vmsg_mmap.c"],
      "cflags": ["-O2", "-Wall", "-Wextra"]
    },
    {
      "target_name": "vmsg_fence",
      "sources": ["src/native/vmsg_fence.c"],
      "cflags": ["-O2", "-Wall", "-Wextra"]
    },
    {
      "target_name": "vmsg_bell",
      "sources": ["src/native/vmsg_bell.c"],
      "cflags": ["-O2", "-Wall", "-Wextra"]
    }
  ]
}
