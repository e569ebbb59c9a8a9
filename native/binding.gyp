{
  "variables": {
    "has_jpeg": "<!(node -p \"require('fs').existsSync('/usr/include/jpeglib.h') ? 1 : 0\")"
  },
  "targets": [
    {
      "target_name": "covidnet_onednn",
      "sources": ["src/addon.cc", "src/conv.cc", "src/pool.cc", "src/matmul.cc", "src/elementwise.cc", "src/optimizer.cc", "src/image_ops.cc", "src/plan.cc", "src/pointwise.cc", "src/pepx.cc", "src/dense.cc", "src/depthwise.cc"],
      "include_dirs": ["<!(node -p \"require('path').dirname(require.resolve('node-addon-api/package.json'))\")", "/usr/include/oneapi"],
      "defines": ["NAPI_VERSION=8", "NAPI_CPP_EXCEPTIONS"],
      "cflags!": ["-fno-exceptions"],
      "cflags_cc!": ["-fno-exceptions", "-fno-rtti"],
      # -falign-loops=64: every loop starts on a cache line, so a kernel's speed does not depend on
      # where its loop happens to land (the bias + ReLU pass of a pointwise conv ran 15% slower at an
      # unlucky offset after an unrelated edit)
      "cflags_cc": ["-std=c++17", "-O3", "-fopenmp", "-fexceptions", "-falign-loops=64"],
      "ldflags": ["-fopenmp"],
      "libraries": ["-ldnnl", "-lgomp"],
      "conditions": [
        ["has_jpeg==1", {
          "sources": ["src/jpeg_ops.cc"],
          "defines": ["COVIDNET_JPEG"],
          "libraries": ["-ljpeg"]
        }]
      ]
    }
  ]
}
