// JNI shim between core's GlooNative and Debian's Gloo (libgloo-dev): rendezvous through a file store or Redis,
// then all-reduce, all-gather, broadcast and barrier over TCP on buffers the JVM allocated off-heap (direct
// ByteBuffers), so nothing is copied and no Java array is pinned while the network waits.
//
// Every Gloo error (a peer that closed its connection, a timeout, a failed check) becomes a Java
// dev.selfsup.core.parallel.CollectiveException with Gloo's message; no C++ exception crosses into the JVM.
#include <jni.h>

#include <chrono>
#include <cstdint>
#include <memory>
#include <stdexcept>
#include <string>

#include <gloo/allgather.h>
#include <gloo/allreduce.h>
#include <gloo/barrier.h>
#include <gloo/broadcast.h>
#include <gloo/math.h>
#include <gloo/rendezvous/context.h>
#include <gloo/rendezvous/file_store.h>
#include <gloo/rendezvous/prefix_store.h>
#include <gloo/rendezvous/redis_store.h>
#include <gloo/transport/tcp/device.h>

namespace {

struct Group {
  std::shared_ptr<gloo::rendezvous::Context> context;
  std::chrono::milliseconds timeout;
  // Every rank issues the same collectives in the same order, so a counter gives each its own tag.
  uint32_t tag = 0;
};

// Gloo prefixes its messages with its source file and line ("[./gloo/transport/tcp/pair.cc:589] "): left out, the
// rest says what happened.
void throwJava(JNIEnv* env, const std::string& message) {
  std::string m = message;
  while (!m.empty() && m[0] == '[') {
    size_t end = m.find("] ");
    if (end == std::string::npos || m.find(':') > end) {
      break;
    }
    m = m.substr(end + 2);
  }
  jclass c = env->FindClass("dev/selfsup/core/parallel/CollectiveException");
  if (c != nullptr) {
    env->ThrowNew(c, m.c_str());
  }
}

std::string str(JNIEnv* env, jstring s) {
  if (s == nullptr) {
    return std::string();
  }
  const char* chars = env->GetStringUTFChars(s, nullptr);
  std::string out(chars);
  env->ReleaseStringUTFChars(s, chars);
  return out;
}

// Runs a call's body; a C++ exception becomes the Java exception, so none crosses into the JVM.
template <typename Body>
void guarded(JNIEnv* env, Body body) {
  try {
    body();
  } catch (const std::exception& e) {
    throwJava(env, e.what());
  }
}

Group* group(jlong handle) {
  return reinterpret_cast<Group*>(static_cast<intptr_t>(handle));
}

char* address(JNIEnv* env, jobject buffer, jlong bytes) {
  void* p = env->GetDirectBufferAddress(buffer);
  if (p == nullptr) {
    throw std::invalid_argument("not a direct buffer");
  }
  if (env->GetDirectBufferCapacity(buffer) < bytes) {
    throw std::invalid_argument("buffer smaller than the collective's size");
  }
  return static_cast<char*>(p);
}

}  // namespace

extern "C" {

JNIEXPORT jlong JNICALL Java_dev_selfsup_core_parallel_GlooNative_connect(
    JNIEnv* env, jclass, jint rank, jint size, jstring storeKind, jstring storeAddress, jint storePort,
    jstring prefix, jstring hostname, jlong connectMillis, jlong timeoutMillis) {
  try {
    std::string kind = str(env, storeKind);
    std::unique_ptr<gloo::rendezvous::Store> store;
    if (kind == "file") {
      store.reset(new gloo::rendezvous::FileStore(str(env, storeAddress)));
    } else if (kind == "redis") {
      store.reset(new gloo::rendezvous::RedisStore(str(env, storeAddress), storePort));
    } else {
      throw std::invalid_argument("unknown rendezvous store kind " + kind);
    }
    gloo::rendezvous::PrefixStore prefixed(str(env, prefix), *store);
    gloo::transport::tcp::attr attr;
    attr.hostname = str(env, hostname);
    auto device = gloo::transport::tcp::CreateDevice(attr);
    auto context = std::make_shared<gloo::rendezvous::Context>(rank, size);
    context->setTimeout(std::chrono::milliseconds(connectMillis));
    context->connectFullMesh(prefixed, device);
    context->setTimeout(std::chrono::milliseconds(timeoutMillis));
    Group* g = new Group{context, std::chrono::milliseconds(timeoutMillis)};
    return static_cast<jlong>(reinterpret_cast<intptr_t>(g));
  } catch (const std::exception& e) {
    throwJava(env, e.what());
    return 0;
  }
}

JNIEXPORT void JNICALL Java_dev_selfsup_core_parallel_GlooNative_allReduceSum(
    JNIEnv* env, jclass, jlong handle, jobject buffer, jlong floats) {
  guarded(env, [&] {
    Group* g = group(handle);
    float* data = reinterpret_cast<float*>(address(env, buffer, floats * 4));
    gloo::AllreduceOptions opts(g->context);
    opts.setOutput(data, static_cast<size_t>(floats));
    opts.setReduceFunction(static_cast<void (*)(void*, const void*, const void*, size_t)>(&gloo::sum<float>));
    opts.setTag(g->tag++);
    opts.setTimeout(g->timeout);
    gloo::allreduce(opts);
  });
}

JNIEXPORT void JNICALL Java_dev_selfsup_core_parallel_GlooNative_allGather(
    JNIEnv* env, jclass, jlong handle, jobject in, jobject out, jlong bytes) {
  guarded(env, [&] {
    Group* g = group(handle);
    char* src = address(env, in, bytes);
    char* dst = address(env, out, bytes * g->context->size);
    gloo::AllgatherOptions opts(g->context);
    opts.setInput(src, static_cast<size_t>(bytes));
    opts.setOutput(dst, static_cast<size_t>(bytes) * g->context->size);
    opts.setTag(g->tag++);
    opts.setTimeout(g->timeout);
    gloo::allgather(opts);
  });
}

JNIEXPORT void JNICALL Java_dev_selfsup_core_parallel_GlooNative_broadcast(
    JNIEnv* env, jclass, jlong handle, jobject buffer, jlong bytes, jint root) {
  guarded(env, [&] {
    Group* g = group(handle);
    gloo::BroadcastOptions opts(g->context);
    opts.setOutput(address(env, buffer, bytes), static_cast<size_t>(bytes));
    opts.setRoot(root);
    opts.setTag(g->tag++);
    opts.setTimeout(g->timeout);
    gloo::broadcast(opts);
  });
}

JNIEXPORT void JNICALL Java_dev_selfsup_core_parallel_GlooNative_barrier(JNIEnv* env, jclass, jlong handle) {
  guarded(env, [&] {
    Group* g = group(handle);
    gloo::BarrierOptions opts(g->context);
    opts.setTag(g->tag++);
    opts.setTimeout(g->timeout);
    gloo::barrier(opts);
  });
}

JNIEXPORT void JNICALL Java_dev_selfsup_core_parallel_GlooNative_close(JNIEnv* env, jclass, jlong handle) {
  guarded(env, [&] { delete group(handle); });
}

}  // extern "C"
