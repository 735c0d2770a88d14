#pragma once

// The machinery behind decode.h, for decoder .cpp files only: simdjson.h is
// large, so public headers never include this one.
//
// A decoder reads one JSON value into a struct with simdjson on-demand.
// Two kinds of failure are kept apart:
//  - a simdjson error_code (malformed JSON, a wrong type) aborts the whole
//    document: the iterator cannot be trusted afterwards;
//  - a Problem (valid JSON holding an invalid value, e.g. a bad quantity)
//    is recorded while decoding goes on, so a list can drop just that item.
//
// To decode a new type T, specialise ObjectDecoder<T> in a .cpp file that
// includes this header, then write NODEGUARD_KUBE_INSTANTIATE_DECODERS(T) there.

#include <simdjson.h>

#include <algorithm>
#include <exception>
#include <string>
#include <string_view>
#include <utility>

#include "kube/decode.h"

namespace nodeguard::kube::json {

namespace od = simdjson::ondemand;
using simdjson::error_code;

// The first semantic problem found in one object (later ones add nothing).
class Problems {
 public:
  void Flag(std::string_view field, std::string_view detail) {
    if (!first_.empty()) return;
    first_.reserve(field.size() + detail.size() + 2);
    first_.append(field).append(": ").append(detail);
  }
  bool any() const { return !first_.empty(); }
  const std::string& first() const { return first_; }

 private:
  std::string first_;
};

// Specialise: static error_code Decode(od::object& object, T& out, Problems& problems);
// Objects, not values: simdjson forbids value-level calls such as is_null()
// on a document's root, so decoders start from an object.
template <typename T>
struct ObjectDecoder;

// ---------------------------------------------------------------- readers
// Each reads one value; JSON null leaves `out` at its default (Kubernetes
// omits or nulls empty fields interchangeably).

error_code ReadString(od::value& v, std::string& out);
error_code ReadSymbol(od::value& v, Symbol& out);  // Interned.
error_code ReadUid(od::value& v, Uid& out);
error_code ReadInt64(od::value& v, int64_t& out);
error_code ReadInt32(od::value& v, int32_t& out, Problems& problems, std::string_view field);
error_code ReadBool(od::value& v, bool& out);
error_code ReadTime(od::value& v, Time& out, Problems& problems, std::string_view field);
// A resource.Quantity (a string, or a bare JSON number): bytes, or
// millicores when `milli`.
error_code ReadQuantity(od::value& v, int64_t& out, bool milli, Problems& problems,
                        std::string_view field);
// A map[string]string whose keys start with `prefix` ("" keeps all), sorted by key.
// `total`, when given, receives how many keys the map had, kept or not.
error_code ReadStringMap(od::value& v, Annotations& out, std::string_view prefix = {},
                         size_t* total = nullptr);
// Labels, interned (objects.h).
error_code ReadLabels(od::value& v, Labels& out);

// Reads metadata; `extra(field)` is offered every other key and returns
// SUCCESS whether or not it consumed the value.
template <typename Extra>
error_code ReadMeta(od::value& v, ObjectMeta& meta, Problems& problems, Extra&& extra) {
  bool null = false;
  SIMDJSON_TRY(v.is_null().get(null));
  if (null) return simdjson::SUCCESS;
  od::object obj;
  SIMDJSON_TRY(v.get_object().get(obj));
  for (auto f : obj) {
    SIMDJSON_TRY(f.error());
    od::field& field = f.value_unsafe();
    od::raw_json_string key = field.key();
    od::value& value = field.value();
    if (key == "name") {
      SIMDJSON_TRY(ReadString(value, meta.name));
    } else if (key == "namespace") {
      SIMDJSON_TRY(ReadSymbol(value, meta.namespace_));
    } else if (key == "uid") {
      SIMDJSON_TRY(ReadUid(value, meta.uid));
    } else if (key == "resourceVersion") {
      SIMDJSON_TRY(ReadString(value, meta.resource_version));
    } else if (key == "generation") {
      SIMDJSON_TRY(ReadInt64(value, meta.generation));
    } else if (key == "creationTimestamp") {
      SIMDJSON_TRY(ReadTime(value, meta.creation_timestamp, problems, "creationTimestamp"));
    } else if (key == "deletionTimestamp") {
      SIMDJSON_TRY(ReadTime(value, meta.deletion_timestamp, problems, "deletionTimestamp"));
    } else {
      SIMDJSON_TRY(extra(field));
    }
  }
  return simdjson::SUCCESS;
}

// Calls each(element) for every element of an array (null: none).
template <typename Each>
error_code ForEachElement(od::value& v, Each&& each) {
  bool null = false;
  SIMDJSON_TRY(v.is_null().get(null));
  if (null) return simdjson::SUCCESS;
  od::array arr;
  SIMDJSON_TRY(v.get_array().get(arr));
  for (auto e : arr) {
    SIMDJSON_TRY(e.error());
    od::value& element = e.value_unsafe();
    SIMDJSON_TRY(each(element));
  }
  return simdjson::SUCCESS;
}

// Calls each(field) for every field of `obj`.
template <typename Each>
error_code ForEachFieldOf(od::object& obj, Each&& each) {
  for (auto f : obj) {
    SIMDJSON_TRY(f.error());
    od::field& field = f.value_unsafe();
    SIMDJSON_TRY(each(field));
  }
  return simdjson::SUCCESS;
}

// Calls each(field) for every field of an object value (null: none).
// REQUIRES: `v` is not a document root.
template <typename Each>
error_code ForEachField(od::value& v, Each&& each) {
  bool null = false;
  SIMDJSON_TRY(v.is_null().get(null));
  if (null) return simdjson::SUCCESS;
  od::object obj;
  SIMDJSON_TRY(v.get_object().get(obj));
  return ForEachFieldOf(obj, std::forward<Each>(each));
}

// Decodes an object value into `out` with ObjectDecoder<T>.
template <typename T>
error_code DecodeObjectValue(od::value& v, T& out, Problems& problems) {
  od::object obj;
  SIMDJSON_TRY(v.get_object().get(obj));
  return ObjectDecoder<T>::Decode(obj, out, problems);
}

// Reads a metav1.Status object into an Error; `fallback_http_status` is used
// when it carries no code. Stores the object's "kind" in `kind` when given.
error_code ReadStatus(od::object& obj, Error& out, int fallback_http_status,
                      std::string* kind = nullptr);

// ---------------------------------------------------------------- documents

// A per-thread parser and a padded copy of the input (simdjson reads up to
// SIMDJSON_PADDING bytes past the end). A document grows the parser to
// several bytes per input byte: a list page of 500 Nodes (about 2 MB) to
// about 14 MB. Kept for the next page of a list, that memory is released
// once the list ends: a watch event is one object, a few KB, and an
// informer thread that kept its list's buffers held more than its cache did
// at 15,000 pods (docs/performance.md).
class DocumentParser {
 public:
  static DocumentParser& ForThisThread();
  // The returned document is valid until the next Parse on this thread.
  error_code Parse(std::string_view json, od::document& doc);
  // Frees the buffers if they are larger than a single object needs; with
  // more_pages (a list page with a continue token) only if larger than a
  // page of any sensible size needs (an unpaginated list's).
  void ReleaseIfLarge(bool more_pages = false);
  // Bytes the buffers hold now (for tests).
  size_t RetainedBytes() const;

 private:
  od::parser parser_;
  std::string padded_;
};

// SUCCESS when nothing but whitespace follows the document's root value.
error_code ExpectEnd(od::document& doc);

Error SyntaxError(std::string_view what, error_code code);

template <typename T>
Result<T> DecodeObjectImpl(std::string_view json) {
  DocumentParser& parser = DocumentParser::ForThisThread();
  Problems problems;
  T out{};
  error_code code = [&]() -> error_code {
    od::document doc;
    SIMDJSON_TRY(parser.Parse(json, doc));
    od::object root;
    SIMDJSON_TRY(doc.get_object().get(root));
    SIMDJSON_TRY(ObjectDecoder<T>::Decode(root, out, problems));
    return ExpectEnd(doc);
  }();
  parser.ReleaseIfLarge();
  if (code != simdjson::SUCCESS) return SyntaxError("object", code);
  if (problems.any()) return Error::Invalid("invalid object: " + problems.first());
  return out;
}

template <typename T>
Result<ObjectList<T>> DecodeListImpl(std::string_view json) {
  DocumentParser& parser = DocumentParser::ForThisThread();
  ObjectList<T> list;
  error_code code = [&]() -> error_code {
    od::document doc;
    SIMDJSON_TRY(parser.Parse(json, doc));
    od::object root;
    SIMDJSON_TRY(doc.get_object().get(root));
    for (auto f : root) {
      SIMDJSON_TRY(f.error());
      od::field& field = f.value_unsafe();
      od::raw_json_string key = field.key();
      if (key == "metadata") {
        SIMDJSON_TRY(ForEachField(field.value(), [&](od::field& m) -> error_code {
          if (m.key() == "resourceVersion") return ReadString(m.value(), list.resource_version);
          if (m.key() == "continue") return ReadString(m.value(), list.continue_token);
          return simdjson::SUCCESS;
        }));
      } else if (key == "items") {
        SIMDJSON_TRY(ForEachElement(field.value(), [&](od::value& item) -> error_code {
          Problems problems;
          T& out = list.items.emplace_back();
          SIMDJSON_TRY(DecodeObjectValue(item, out, problems));
          if (problems.any()) {
            if (list.skipped_items++ == 0) {
              list.first_skip_reason = out.meta.name + ": " + problems.first();
            }
            list.items.pop_back();
          }
          return simdjson::SUCCESS;
        }));
      }
    }
    return ExpectEnd(doc);
  }();
  parser.ReleaseIfLarge(code == simdjson::SUCCESS && !list.continue_token.empty());
  if (code != simdjson::SUCCESS) return SyntaxError("list", code);
  return list;
}

bool ParseWatchEventType(std::string_view text, WatchEventType& out);

template <typename T>
Result<WatchEvent<T>> DecodeWatchEventImpl(std::string_view json) {
  DocumentParser& parser = DocumentParser::ForThisThread();
  Problems problems;
  WatchEvent<T> event;
  bool have_type = false;
  bool have_object = false;
  auto read_object = [&](od::value& v) -> error_code {
    switch (event.type) {
      case WatchEventType::kError: {
        od::object status;
        SIMDJSON_TRY(v.get_object().get(status));
        return ReadStatus(status, event.error, 0);
      }
      case WatchEventType::kBookmark: {
        return ForEachField(v, [&](od::field& f) -> error_code {
          if (f.key() != "metadata") return simdjson::SUCCESS;
          ObjectMeta meta;
          SIMDJSON_TRY(ReadMeta(f.value(), meta, problems,
                                [](od::field&) -> error_code { return simdjson::SUCCESS; }));
          event.resource_version = std::move(meta.resource_version);
          return simdjson::SUCCESS;
        });
      }
      default:
        SIMDJSON_TRY(DecodeObjectValue(v, event.object, problems));
        event.resource_version = event.object.meta.resource_version;
        return simdjson::SUCCESS;
    }
  };
  std::string bad_type;
  error_code code = [&]() -> error_code {
    od::document doc;
    SIMDJSON_TRY(parser.Parse(json, doc));
    bool object_before_type = false;
    {
      od::object root;
      SIMDJSON_TRY(doc.get_object().get(root));
      for (auto f : root) {
        SIMDJSON_TRY(f.error());
        od::field& field = f.value_unsafe();
        if (field.key() == "type") {
          std::string_view type;
          SIMDJSON_TRY(field.value().get_string().get(type));
          if (!ParseWatchEventType(type, event.type)) bad_type = type;
          have_type = true;
        } else if (field.key() == "object") {
          have_object = true;
          if (!have_type) {
            object_before_type = true;  // Read on a second pass, once the type is known.
          } else if (bad_type.empty()) {
            SIMDJSON_TRY(read_object(field.value()));
          }
        }
      }
    }
    SIMDJSON_TRY(ExpectEnd(doc));
    if (object_before_type && have_type && bad_type.empty()) {
      doc.rewind();
      od::value object;
      SIMDJSON_TRY(doc.find_field_unordered("object").get(object));
      SIMDJSON_TRY(read_object(object));
    }
    return simdjson::SUCCESS;
  }();
  parser.ReleaseIfLarge();
  if (code != simdjson::SUCCESS) return SyntaxError("watch event", code);
  if (!have_type) return Error::Invalid("invalid watch event: no type");
  if (!bad_type.empty()) return Error::Invalid("invalid watch event: unknown type " + bad_type);
  if (!have_object) return Error::Invalid("invalid watch event: no object");
  if (problems.any()) return Error::Invalid("invalid watch event object: " + problems.first());
  return event;
}

// Calls `decode` and converts any exception (allocation failure) to an Error,
// so none escapes a decoder.
template <typename R, typename F>
R NoThrow(F&& decode) {
  try {
    return decode();
  } catch (const std::exception& e) {
    return Error::Internal(std::string("decoding failed: ") + e.what());
  }
}

}  // namespace nodeguard::kube::json

// Defines DecodeObject/DecodeList/DecodeWatchEvent for T. Use inside
// namespace nodeguard::kube in exactly one .cpp file, after specialising
// json::ObjectDecoder<T>.
#define NODEGUARD_KUBE_INSTANTIATE_DECODERS(T)                                                  \
  template <>                                                                                   \
  Result<T> DecodeObject<T>(std::string_view json) {                                            \
    return json::NoThrow<Result<T>>([&] { return json::DecodeObjectImpl<T>(json); });           \
  }                                                                                             \
  template <>                                                                                   \
  Result<ObjectList<T>> DecodeList<T>(std::string_view json) {                                  \
    return json::NoThrow<Result<ObjectList<T>>>([&] { return json::DecodeListImpl<T>(json); }); \
  }                                                                                             \
  template <>                                                                                   \
  Result<WatchEvent<T>> DecodeWatchEvent<T>(std::string_view json) {                            \
    return json::NoThrow<Result<WatchEvent<T>>>(                                                \
        [&] { return json::DecodeWatchEventImpl<T>(json); });                                   \
  }
