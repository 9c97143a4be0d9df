{
  "targets": [
    {
      "target_name": "vmsg_mmap",
      "sources": ["src/native/vmsg_mmap.c"],
      "cflags": ["-O2", "-Wall", "-Wextra"]
    }
  ]
}
