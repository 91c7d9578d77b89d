// JNI shim that switches libtorch's autocast on and off for the calling thread, the one thing bfloat16 training
// needs that DJL 0.29's binding cannot reach (it maps no bfloat16 type: see docs/numerics.md).
//
// It is built without libtorch's headers: the few functions it calls are looked up by name in the libtorch that
// DJL has already loaded (dlopen with RTLD_NOLOAD finds it; nothing is loaded twice). Those functions are part of
// libtorch 2.3's exported interface: at::autocast's thread-local switches (C++, looked up by their mangled names)
// and the C functions of the AOTInductor shim for a type's number. A missing symbol is reported to Java as a
// sentence, so a libtorch without them leaves the run in float32 instead of failing.
#include <dlfcn.h>
#include <jni.h>
#include <link.h>

#include <cstdint>
#include <cstring>
#include <string>

namespace {

using SetBool = void (*)(bool);
using GetBool = bool (*)();
using SetType = void (*)(int8_t);  // c10::ScalarType is an enum class over int8_t
using GetType = int8_t (*)();
using Nesting = int (*)();
using Void = void (*)();
using TypeNumber = int32_t (*)();

struct Autocast {
  SetBool setCpuEnabled = nullptr;
  GetBool isCpuEnabled = nullptr;
  SetType setCpuType = nullptr;
  GetType getCpuType = nullptr;
  SetBool setGpuEnabled = nullptr;
  GetBool isGpuEnabled = nullptr;
  SetType setGpuType = nullptr;
  GetType getGpuType = nullptr;
  Nesting increment = nullptr;
  Nesting decrement = nullptr;
  Void clearCache = nullptr;
  int8_t bfloat16 = -1;
};

Autocast api;

// The path of the first loaded object whose file name is `name`.
std::string loadedPath(const char* name) {
  struct Search {
    const char* name;
    std::string path;
  } search{name, ""};
  dl_iterate_phdr(
      [](struct dl_phdr_info* info, size_t, void* data) {
        auto* s = static_cast<Search*>(data);
        const char* path = info->dlpi_name;
        if (path == nullptr || *path == '\0') {
          return 0;
        }
        const char* slash = std::strrchr(path, '/');
        const char* file = slash == nullptr ? path : slash + 1;
        if (std::strcmp(file, s->name) == 0) {
          s->path = path;
          return 1;
        }
        return 0;
      },
      &search);
  return search.path;
}

template <typename F>
bool find(void* lib, const char* symbol, F* out, std::string* missing) {
  *out = reinterpret_cast<F>(dlsym(lib, symbol));
  if (*out == nullptr) {
    if (!missing->empty()) {
      *missing += ", ";
    }
    *missing += symbol;
    return false;
  }
  return true;
}

jstring text(JNIEnv* env, const std::string& s) {
  return env->NewStringUTF(s.c_str());
}

}  // namespace

extern "C" {

// Resolves the functions; null when all were found, else what is missing, in words.
JNIEXPORT jstring JNICALL Java_dev_selfsup_core_engine_TorchNative_open(JNIEnv* env, jclass) {
  std::string path = loadedPath("libtorch_cpu.so");
  if (path.empty()) {
    return text(env, "libtorch (libtorch_cpu.so) is not loaded in this process");
  }
  void* lib = dlopen(path.c_str(), RTLD_LAZY | RTLD_NOLOAD);
  if (lib == nullptr) {
    const char* error = dlerror();
    return text(env, std::string("libtorch could not be opened: ") + (error == nullptr ? "" : error));
  }
  std::string missing;
  Autocast a;
  TypeNumber bfloat16 = nullptr;
  find(lib, "_ZN2at8autocast15set_cpu_enabledEb", &a.setCpuEnabled, &missing);
  find(lib, "_ZN2at8autocast14is_cpu_enabledEv", &a.isCpuEnabled, &missing);
  find(lib, "_ZN2at8autocast22set_autocast_cpu_dtypeEN3c1010ScalarTypeE", &a.setCpuType, &missing);
  find(lib, "_ZN2at8autocast22get_autocast_cpu_dtypeEv", &a.getCpuType, &missing);
  find(lib, "_ZN2at8autocast11set_enabledEb", &a.setGpuEnabled, &missing);
  find(lib, "_ZN2at8autocast10is_enabledEv", &a.isGpuEnabled, &missing);
  find(lib, "_ZN2at8autocast22set_autocast_gpu_dtypeEN3c1010ScalarTypeE", &a.setGpuType, &missing);
  find(lib, "_ZN2at8autocast22get_autocast_gpu_dtypeEv", &a.getGpuType, &missing);
  find(lib, "_ZN2at8autocast17increment_nestingEv", &a.increment, &missing);
  find(lib, "_ZN2at8autocast17decrement_nestingEv", &a.decrement, &missing);
  find(lib, "_ZN2at8autocast11clear_cacheEv", &a.clearCache, &missing);
  find(lib, "aoti_torch_dtype_bfloat16", &bfloat16, &missing);
  // The handle stays open on purpose: the functions are used for the life of the process.
  if (!missing.empty()) {
    return text(env, "this libtorch lacks " + missing);
  }
  a.bfloat16 = static_cast<int8_t>(bfloat16());
  api = a;
  return nullptr;
}

// Switches autocast to bfloat16 on this thread for the CPU (gpu false) or CUDA (gpu true). Returns the state it
// replaced, packed as (enabled << 8) | type, for exit to restore.
JNIEXPORT jint JNICALL Java_dev_selfsup_core_engine_TorchNative_enterBfloat16(JNIEnv*, jclass, jboolean gpu) {
  bool enabled = gpu ? api.isGpuEnabled() : api.isCpuEnabled();
  int8_t type = gpu ? api.getGpuType() : api.getCpuType();
  if (gpu) {
    api.setGpuType(api.bfloat16);
    api.setGpuEnabled(true);
  } else {
    api.setCpuType(api.bfloat16);
    api.setCpuEnabled(true);
  }
  api.increment();
  return (enabled ? 1 << 8 : 0) | static_cast<uint8_t>(type);
}

// Restores the state enter replaced. Leaving the outermost region drops the cached bfloat16 copies of the
// weights: they were cast before this step's update and would be stale in the next.
JNIEXPORT void JNICALL Java_dev_selfsup_core_engine_TorchNative_exit(JNIEnv*, jclass, jboolean gpu, jint previous) {
  if (api.decrement() == 0) {
    api.clearCache();
  }
  bool enabled = (previous >> 8) & 1;
  int8_t type = static_cast<int8_t>(previous & 0xff);
  if (gpu) {
    api.setGpuEnabled(enabled);
    api.setGpuType(type);
  } else {
    api.setCpuEnabled(enabled);
    api.setCpuType(type);
  }
}

// Whether autocast is on for this thread (the CPU's or CUDA's), for tests.
JNIEXPORT jboolean JNICALL Java_dev_selfsup_core_engine_TorchNative_enabled(JNIEnv*, jclass, jboolean gpu) {
  return (gpu ? api.isGpuEnabled() : api.isCpuEnabled()) ? JNI_TRUE : JNI_FALSE;
}

}  // extern "C"
