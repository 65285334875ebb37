"""The SentencePiece subwords a translator reads and writes (no TensorFlow: translation
runs without it)."""

import io

PAD, UNK, BOS, EOS = 0, 1, 2, 3
WORD_START = "\u2581"  # how SentencePiece marks a piece that starts a word


class Subwords:
    """A SentencePiece model: text <-> ids, with PAD/UNK/BOS/EOS = 0/1/2/3."""

    def __init__(self, proto: bytes):
        import sentencepiece as spm

        self.proto = proto
        self.processor = spm.SentencePieceProcessor(model_proto=proto)

    @classmethod
    def train(cls, texts: list[str], vocab_size: int) -> "Subwords":
        import sentencepiece as spm

        buffer = io.BytesIO()
        # A vocabulary larger than the data supports makes SentencePiece fail; let it shrink.
        spm.SentencePieceTrainer.train(
            sentence_iterator=iter(texts), model_writer=buffer, vocab_size=vocab_size, model_type="unigram",
            character_coverage=1.0, pad_id=PAD, unk_id=UNK, bos_id=BOS, eos_id=EOS, hard_vocab_limit=False,
            num_threads=2, minloglevel=2)
        return cls(buffer.getvalue())

    @classmethod
    def read(cls, path: str) -> "Subwords":
        with open(path, "rb") as f:
            return cls(f.read())

    def write(self, path: str) -> None:
        with open(path, "wb") as f:
            f.write(self.proto)

    def __len__(self) -> int:
        return self.processor.get_piece_size()

    def encode(self, texts: list[str]) -> list[list[int]]:
        return self.processor.encode(texts)

    def decode(self, ids: list[int]) -> str:
        return self.processor.decode([i for i in ids if i > EOS])

    def is_piece(self, piece: str) -> bool:
        return self.processor.piece_to_id(piece) != self.processor.unk_id()

    def pieces(self, ids: list[int]) -> list[str]:
        return [self.processor.id_to_piece(i) for i in ids]
